/**
 * Every relay limit on loopback: the exact status, error code and metric it produces.
 * (Slowloris and the slow-reader memory bound have their own files.)
 */
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { SUBPROTOCOL, TUNNEL_PATH } from "../../src/protocol/constants.ts";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { cleanup, fetchVia, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";
import { errorCode, eventually, metric, startStrictRelay } from "./helpers.ts";

afterEach(cleanup);

const errors = (code: string) => `agent_relay_errors_total{code="${code}"}`;

/** Opens a tunnel WebSocket and resolves once the relay answered: with the socket, or the refusal. */
function tunnelSocket(
  port: number,
): Promise<{ ws: WebSocket } | { status: number; body: string; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${TUNNEL_PATH}`, [SUBPROTOCOL]);
    ws.once("message", () => resolve({ ws })); // the challenge: the socket is up and unauthenticated
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers["retry-after"] as string }),
      );
    });
    ws.on("error", (err) => {
      if (!String(err.message).includes("Unexpected server response")) reject(err);
    });
  });
}

describe("per-agent request rate limit", () => {
  it("answers 429 rate_limited with Retry-After once an agent's bucket is empty; other agents go on", async () => {
    const relay = await startStrictRelay({ requestRatePerMin: 5 });
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const a = await startPeer(relay, local.url, { probe: false });
    const b = await startPeer(relay, local.url, { probe: false });
    for (let i = 0; i < 5; i++) expect((await fetchVia(relay.port(), a.host, "/")).status).toBe(200);
    const over = await fetchVia(relay.port(), a.host, "/");
    expect(over.status).toBe(429);
    expect(errorCode(over.body)).toBe("rate_limited");
    expect(over.headers["x-agent-relay-error"]).toBe("rate_limited");
    // One token every 12 s at 5/min.
    expect(Number(over.headers["retry-after"])).toBeGreaterThanOrEqual(11);
    expect(Number(over.headers["retry-after"])).toBeLessThanOrEqual(12);
    expect((await fetchVia(relay.port(), b.host, "/")).status).toBe(200);
    expect(await metric(relay, errors("rate_limited"))).toBe(1);
  });

  it("does not count clients in --rate-limit-exempt (loopback by default)", async () => {
    const relay = await startRelay({ requestRatePerMin: 2 });
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const a = await startPeer(relay, local.url, { probe: false });
    for (let i = 0; i < 5; i++) expect((await fetchVia(relay.port(), a.host, "/")).status).toBe(200);
  });
});

describe("streams per tunnel", () => {
  it("answers 503 tunnel_busy past max streams, and serves again once one ends", async () => {
    const relay = await startStrictRelay({ maxStreamsPerTunnel: 2 });
    const held: Array<() => void> = [];
    const local = await startLocalServer((_req, res) => held.push(() => res.end("done")));
    const peer = await startPeer(relay, local.url, { probe: false });
    const first = [fetchVia(relay.port(), peer.host, "/1"), fetchVia(relay.port(), peer.host, "/2")];
    expect(await eventually(5000, () => held.length === 2)).toBe(true);
    const busy = await fetchVia(relay.port(), peer.host, "/3");
    expect(busy.status).toBe(503);
    expect(errorCode(busy.body)).toBe("tunnel_busy");
    for (const h of held.splice(0)) h();
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
    await eventually(2000, () => relay.registry.streamCount() === 0);
    const again = fetchVia(relay.port(), peer.host, "/4");
    expect(await eventually(5000, () => held.length === 1)).toBe(true);
    held[0]!();
    expect((await again).status).toBe(200);
    expect(await metric(relay, errors("tunnel_busy"))).toBe(1);
  });
});

describe("request size limits", () => {
  it("answers 431 request_header_too_large for a head over the cap", async () => {
    const relay = await startStrictRelay({ maxHeaderBytes: 4096 });
    let reached = 0;
    const local = await startLocalServer((_req, res) => {
      reached++;
      res.end("ok");
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    expect(
      (await fetchVia(relay.port(), peer.host, "/", { headers: { "x-fill": "a".repeat(3000) } })).status,
    ).toBe(200);
    const big = await fetchVia(relay.port(), peer.host, "/", { headers: { "x-fill": "a".repeat(5000) } });
    expect(big.status).toBe(431);
    expect(errorCode(big.body)).toBe("request_header_too_large");
    expect(reached).toBe(1);
    expect(await metric(relay, errors("request_header_too_large"))).toBe(1);
  });

  it("answers 413 body_too_large by Content-Length before any stream, and mid-body when chunked", async () => {
    const relay = await startStrictRelay({ maxBodyBytes: 1024 });
    let reached = 0;
    let closedEarly = 0;
    const local = await startLocalServer((req, res) => {
      reached++;
      req.on("close", () => {
        if (!req.complete) closedEarly++;
      });
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    expect(
      (await fetchVia(relay.port(), peer.host, "/", { method: "POST", body: "x".repeat(1000) })).status,
    ).toBe(200);
    const declared = await fetchVia(relay.port(), peer.host, "/", { method: "POST", body: "x".repeat(2048) });
    expect(declared.status).toBe(413);
    expect(errorCode(declared.body)).toBe("body_too_large");
    expect(reached).toBe(1);

    // Chunked: the relay counts as it forwards, then cuts the stream; the local server sees it close.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), method: "POST", path: "/", headers: { host: peer.host } },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c;
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on("error", reject);
      req.write("y".repeat(800));
      // The second half only once the local server has the request: the relay cuts a live stream.
      void eventually(5000, () => reached === 2).then(() => req.write("y".repeat(800)));
    });
    expect(chunked.status).toBe(413);
    expect(errorCode(chunked.body)).toBe("body_too_large");
    expect(await eventually(2000, () => closedEarly === 1)).toBe(true);
    expect(await metric(relay, errors("body_too_large"))).toBe(2);
  });
});

describe("timeouts on streams", () => {
  it("answers 504 gateway_timeout when the agent sends no first byte in time, and resets its stream", async () => {
    const relay = await startStrictRelay({ firstByteTimeoutMs: 200 });
    let localClosed = false;
    const local = await startLocalServer((_req, res) => {
      res.on("close", () => {
        localClosed = true;
      });
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const slow = await fetchVia(relay.port(), peer.host, "/slow");
    expect(slow.status).toBe(504);
    expect(errorCode(slow.body)).toBe("gateway_timeout");
    expect(await eventually(2000, () => localClosed)).toBe(true);
    expect(await metric(relay, errors("gateway_timeout"))).toBe(1);
  });

  it("cuts a stream with no bytes either way for the idle timeout, and not one that trickles", async () => {
    const relay = await startStrictRelay({ idleTimeoutMs: 300 });
    let stalledClosed = false;
    const local = await startLocalServer((req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first");
      if (req.url === "/stall") {
        res.on("close", () => {
          stalledClosed = true;
        });
        return;
      }
      // A byte every 100 ms for 1 s: never idle for 300 ms.
      let n = 0;
      const t = setInterval(() => {
        if (++n === 10) {
          clearInterval(t);
          res.end(".");
        } else res.write(".");
      }, 100);
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const outcome = (path: string) =>
      new Promise<string>((resolve) => {
        const req = request(
          { host: "127.0.0.1", port: relay.port(), path, headers: { host: peer.host } },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => {
              body += c;
            });
            res.on("end", () => resolve(`end ${body}`));
            res.on("aborted", () => resolve(`aborted ${body}`));
            res.on("error", () => resolve(`error ${body}`));
          },
        );
        req.on("error", () => resolve("error"));
        req.end();
      });
    const [stalled, trickle] = await Promise.all([outcome("/stall"), outcome("/trickle")]);
    expect(stalled).toMatch(/^(aborted|error) first$/);
    expect(trickle).toBe(`end first${".".repeat(10)}`);
    expect(await eventually(2000, () => stalledClosed)).toBe(true);
    expect(await metric(relay, errors("idle_timeout"))).toBe(1);
  });
});

describe("tunnel connects", () => {
  it("closes a tunnel that does not authenticate in time with 4001 and counts it", async () => {
    const relay = await startStrictRelay({ authTimeoutMs: 200 });
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${relay.port()}${TUNNEL_PATH}`, [SUBPROTOCOL]);
      ws.on("close", (c) => resolve(c));
    });
    expect(code).toBe(CLOSE_CODES.auth_timeout);
    expect(await metric(relay, 'agent_relay_tunnel_auth_total{result="auth_timeout"}')).toBe(1);
  });

  it("answers 429 too_many_pending past the unauthenticated sockets per IP, and admits again once one goes", async () => {
    const relay = await startStrictRelay({ maxPendingPerIp: 3, connectRatePerMin: 0 });
    const open: WebSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await tunnelSocket(relay.port());
      expect("ws" in r).toBe(true);
      if ("ws" in r) open.push(r.ws);
    }
    expect(await metric(relay, "agent_relay_tunnels_pending")).toBe(3);
    const refused = await tunnelSocket(relay.port());
    expect(refused).toMatchObject({ status: 429 });
    expect("body" in refused && errorCode(refused.body)).toBe("too_many_pending");
    open.shift()!.close();
    expect(
      await eventually(2000, async () => (await metric(relay, "agent_relay_tunnels_pending")) === 2),
    ).toBe(true);
    const again = await tunnelSocket(relay.port());
    expect("ws" in again).toBe(true);
    if ("ws" in again) open.push(again.ws);
    for (const ws of open) ws.close();
    expect(await metric(relay, errors("too_many_pending"))).toBe(1);
  });

  it("rate-limits tunnel connects per IP with 429 connect_rate_limited and Retry-After", async () => {
    const relay = await startStrictRelay({ connectRatePerMin: 3 });
    for (let i = 0; i < 3; i++) {
      const r = await tunnelSocket(relay.port());
      expect("ws" in r).toBe(true);
      if ("ws" in r) r.ws.close();
    }
    const limited = await tunnelSocket(relay.port());
    expect(limited).toMatchObject({ status: 429 });
    if (!("body" in limited)) throw new Error("expected a refusal");
    expect(errorCode(limited.body)).toBe("connect_rate_limited");
    // One token every 20 s at 3/min.
    expect(Number(limited.retryAfter)).toBeGreaterThanOrEqual(19);
    expect(Number(limited.retryAfter)).toBeLessThanOrEqual(20);
    expect(await metric(relay, errors("connect_rate_limited"))).toBe(1);
  });
});
