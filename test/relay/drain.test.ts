/**
 * Graceful shutdown in one process: stop accepting, let in-flight requests finish (none fail),
 * /health says 503, then every tunnel gets "restarting" (GoAway 3, close 1012).
 */
import { Agent, request } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { cleanup, fetchVia, startLocalServer, startPeer } from "../helpers/harness.ts";
import { errorCode, eventually, getOps, metric, startStrictRelay } from "./helpers.ts";

afterEach(cleanup);

function get(port: number, host: string, path: string, agent: Agent) {
  return new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host }, agent }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

function tunnelWs(peer: { tunnel: unknown }): WebSocket {
  return (peer.tunnel as { current?: { ws: WebSocket } }).current!.ws;
}

describe("graceful drain", () => {
  it("finishes in-flight requests, refuses new connections, says 503 on /health, then tells peers to reconnect", async () => {
    const relay = await startStrictRelay({ drainTimeoutMs: 20_000 });
    const held: Array<() => void> = [];
    const local = await startLocalServer((req, res) => {
      if (req.url === "/slow") held.push(() => res.end("x".repeat(100_000)));
      else res.end("fast");
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const closeCode = new Promise<number>((resolve) => tunnelWs(peer).once("close", (c) => resolve(c)));
    const port = relay.port();

    // Open before the drain: a pooled keep-alive connection and a connection that has said nothing yet.
    const pooled = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(port, "localhost", "/health", pooled)).status).toBe(200);
    const early = connect({ host: "127.0.0.1", port });
    await new Promise((r) => early.once("connect", r));

    const inflight = Array.from({ length: 5 }, () => fetchVia(port, peer.host, "/slow"));
    expect(await eventually(5000, () => held.length === 5)).toBe(true);

    const drained = relay.drain();
    expect(relay.draining).toBe(true);
    await expect(fetchVia(port, peer.host, "/fast")).rejects.toMatchObject({ code: "ECONNREFUSED" });

    const health = await get(port, "localhost", "/health", pooled);
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toMatchObject({ status: "draining", tunnels: 1, streams: 5 });
    expect(health.connection).toBe("close");
    const ops = await getOps(relay, "/health");
    expect(ops.status).toBe(503);
    expect(await metric(relay, "agent_relay_draining")).toBe(1);

    // A tunnel connect on a connection opened before the drain is refused.
    const refusal = await new Promise<string>((resolve) => {
      let text = "";
      early.on("data", (c: Buffer) => {
        text += c;
      });
      early.on("close", () => resolve(text));
      early.write(
        "GET /v1/tunnel HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      );
    });
    expect(refusal).toMatch(/^HTTP\/1\.1 503 /);
    expect(errorCode(refusal.slice(refusal.indexOf("\r\n\r\n") + 4))).toBe("draining");

    // The tunnel stays up until the in-flight requests are done.
    expect(relay.registry.size).toBe(1);
    for (const h of held.splice(0)) h();
    const answers = await Promise.all(inflight);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    for (const a of answers) expect(a.body.byteLength).toBe(100_000);
    await drained;
    expect(await closeCode).toBe(CLOSE_CODES.restarting);
    expect(relay.registry.size).toBe(0);
    pooled.destroy();
  });

  it("cuts what is still in flight when the drain timeout runs out", async () => {
    const relay = await startStrictRelay({ drainTimeoutMs: 300 });
    const local = await startLocalServer((_req, res) => {
      res.writeHead(200);
      res.write("partial");
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const outcome = new Promise<string>((resolve) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/", headers: { host: peer.host } },
        (res) => {
          res.on("data", () => {});
          res.on("end", () => resolve("end"));
          res.on("error", () => resolve("cut"));
          res.on("aborted", () => resolve("cut"));
        },
      );
      req.on("error", () => resolve("cut"));
      req.end();
    });
    expect(await eventually(5000, () => relay.registry.streamCount() === 1)).toBe(true);
    await relay.drain();
    expect(await outcome).toBe("cut");
  });
});
