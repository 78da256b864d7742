/**
 * Slow clients: a public client that sends its head a byte at a time (or nothing at all) is cut off
 * by the header timeout with 408 request_timeout, and never gets a stream.
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, startLocalServer, startPeer } from "../helpers/harness.ts";
import { metric, startStrictRelay } from "./helpers.ts";

afterEach(cleanup);

/**
 * Connects, writes `first`, then one byte of `drip` every 50 ms. Resolves with what the relay sent
 * and how many drip bytes went out before it closed the connection; gives up after the whole drip
 * (at least 3 s).
 */
function slowClient(port: number, first: string, drip: string): Promise<{ answer: string; dripped: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let answer = "";
    let dripped = 0;
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => {
      answer += c;
    });
    socket.on("error", () => {});
    let ticks = 0;
    const timer = setInterval(() => {
      // One byte per tick; a client with nothing to drip waits 60 ticks (3 s).
      if (++ticks > Math.max(drip.length, 60)) {
        clearInterval(timer);
        socket.destroy();
        reject(new Error(`still open after ${dripped} bytes; got: ${answer}`));
      } else if (dripped < drip.length && !socket.destroyed) socket.write(drip[dripped++]!);
    }, 50);
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ answer, dripped });
    });
    if (first !== "") socket.write(first);
  });
}

describe("slowloris", () => {
  it("cuts a client that sends its head a byte at a time, before any stream opens", async () => {
    const relay = await startStrictRelay({ headerTimeoutMs: 300 });
    let reached = 0;
    const local = await startLocalServer((_req, res) => {
      reached++;
      res.end("ok");
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    // 200 bytes of header at one byte per 50 ms would take 10 s; the timeout is 300 ms.
    const { answer, dripped } = await slowClient(
      relay.port(),
      `GET / HTTP/1.1\r\nHost: ${peer.host}\r\n`,
      `X-Slow: ${"z".repeat(190)}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('{"error":"request_timeout"}');
    expect(dripped).toBeLessThan(200);
    expect(reached).toBe(0);
    expect(await metric(relay, "agent_relay_streams_opened_total")).toBe(0);
    expect(await metric(relay, 'agent_relay_errors_total{code="request_timeout"}')).toBe(1);
  });

  it("cuts a connection that sends nothing, or a stalled HTTP/2 preface", async () => {
    const relay = await startStrictRelay({ headerTimeoutMs: 200 });
    const silent = await slowClient(relay.port(), "", "");
    expect(silent.answer).toMatch(/^HTTP\/1\.1 408 /);
    const preface = await slowClient(relay.port(), "PRI * HTTP/2.0\r\n", "");
    expect(preface.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(await metric(relay, 'agent_relay_errors_total{code="request_timeout"}')).toBe(2);
  });

  it("cuts a slow second request on a keep-alive connection too", async () => {
    const relay = await startStrictRelay({ headerTimeoutMs: 300 });
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const peer = await startPeer(relay, local.url, { probe: false });
    const { answer } = await slowClient(
      relay.port(),
      `GET /1 HTTP/1.1\r\nHost: ${peer.host}\r\n\r\nGET /2 HTTP/1.1\r\nHost: ${peer.host}\r\n`,
      `X-Slow: ${"z".repeat(190)}\r\n\r\n`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toMatch(/HTTP\/1\.1 408 [\s\S]*request_timeout/);
    expect(await metric(relay, "agent_relay_streams_opened_total")).toBe(1);
  });
});
