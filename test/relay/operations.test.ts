/** What the operator sees: /health, /metrics after known traffic, the access log, X-Request-Id. */
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { TUNNEL_PATH } from "../../src/protocol/constants.ts";
import type { RelayConfig } from "../../src/relay/config.ts";
import { createRelay } from "../../src/relay/server.ts";
import { VERSION } from "../../src/version.ts";
import { cleanup, fetchVia, startLocalServer, startPeer } from "../helpers/harness.ts";
import { errorCode, eventually, getOps, metric, rawExchange, sample, startStrictRelay } from "./helpers.ts";

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await cleanup();
});

const OFFLINE = `${"ab".repeat(20)}.localhost`;

/** A relay whose log lines (JSON) are collected in `lines`. */
async function loggedRelay(config: Partial<RelayConfig> = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const relay = createRelay(
    { host: "127.0.0.1", port: 0, domain: "localhost", ...config },
    pino({ level: "info", base: { role: "relay" } }, sink),
  );
  const port = await relay.listen();
  closers.push(() => relay.close());
  const requests = () => lines.filter((l) => l.msg === "request");
  return { relay: Object.assign(relay, { origin: `ws://127.0.0.1:${port}` }), requests };
}

describe("/health", () => {
  it("answers on the bare domain and on the metrics listener with status, tunnels, streams, uptime, version", async () => {
    const relay = await startStrictRelay();
    const local = await startLocalServer((_req, res) => res.end("ok"));
    await startPeer(relay, local.url, { probe: false });
    const pub = await fetchVia(relay.port(), "localhost", "/health");
    expect(pub.status).toBe(200);
    expect(pub.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const body = JSON.parse(pub.body.toString());
    expect(Object.keys(body).sort()).toEqual(["status", "streams", "tunnels", "uptime_s", "version"]);
    expect(body).toMatchObject({ status: "ok", tunnels: 1, streams: 0, version: VERSION });
    expect(Number.isInteger(body.uptime_s)).toBe(true);
    const ops = await getOps(relay, "/health");
    expect(ops.status).toBe(200);
    expect(JSON.parse(ops.body)).toMatchObject({ status: "ok", tunnels: 1 });
  });
});

describe("/metrics", () => {
  it("is not served on the public port", async () => {
    const relay = await startStrictRelay();
    const r = await fetchVia(relay.port(), "localhost", "/metrics");
    expect(r.status).toBe(404);
    expect(errorCode(r.body)).toBe("not_found");
  });

  it("counts known traffic exactly", async () => {
    const relay = await startStrictRelay();
    const local = await startLocalServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.url === "/missing") {
          res.writeHead(404);
          res.end("no");
        } else res.end("x".repeat(100));
      });
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    for (let i = 0; i < 3; i++) {
      const r = await fetchVia(relay.port(), peer.host, "/ok", { method: "POST", body: "0123456789" });
      expect(r.status).toBe(200);
    }
    expect((await fetchVia(relay.port(), peer.host, "/missing")).status).toBe(404);
    expect((await fetchVia(relay.port(), OFFLINE, "/")).status).toBe(502);
    expect((await fetchVia(relay.port(), "nothex.localhost", "/")).status).toBe(400);
    // A tunnel that offers the wrong subprotocol is refused before any auth.
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${relay.port()}${TUNNEL_PATH}`, ["nope"]);
      ws.on("unexpected-response", () => resolve());
      ws.on("error", () => {});
    });
    expect(await eventually(2000, () => relay.registry.streamCount() === 0)).toBe(true);

    const m = await getOps(relay, "/metrics");
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const v = (series: string) => sample(m.body, series);
    expect(v("agent_relay_tunnels")).toBe(1);
    expect(v('agent_relay_tunnel_auth_total{result="ok"}')).toBe(1);
    expect(v("agent_relay_streams_opened_total")).toBe(4);
    expect(v("agent_relay_streams_active")).toBe(0);
    expect(v('agent_relay_requests_total{class="2xx"}')).toBe(3);
    expect(v('agent_relay_requests_total{class="4xx"}')).toBe(2);
    expect(v('agent_relay_requests_total{class="5xx"}')).toBe(1);
    expect(v('agent_relay_bytes_total{direction="in"}')).toBe(30);
    expect(v('agent_relay_bytes_total{direction="out"}')).toBe(302);
    expect(v("agent_relay_request_duration_seconds_count")).toBe(6);
    expect(v('agent_relay_errors_total{code="agent_offline"}')).toBe(1);
    expect(v('agent_relay_errors_total{code="invalid_subdomain"}')).toBe(1);
    expect(v('agent_relay_errors_total{code="unsupported_protocol"}')).toBe(1);
    expect(v("agent_relay_draining")).toBe(0);
    // Process metrics from prom-client's defaults.
    expect(m.body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(m.body).toMatch(/^nodejs_heap_size_total_bytes \d/m);
  });
});

describe("access log and request ids", () => {
  it("logs one JSON line per request, without the query, and puts its id on the response", async () => {
    const { relay, requests } = await loggedRelay();
    const local = await startLocalServer((req, res) => {
      req.resume();
      req.on("end", () => res.end("answer"));
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const r = await fetchVia(relay.port(), peer.host, "/a/b?secret=1", { method: "PUT", body: "abc" });
    const off = await fetchVia(relay.port(), OFFLINE, "/x?y");
    expect(await eventually(2000, () => requests().length === 2)).toBe(true);
    const [ok, offline] = requests();
    expect(ok).toMatchObject({
      rid: r.headers["x-request-id"],
      agent: peer.host.split(".")[0],
      method: "PUT",
      path: "/a/b",
      proto: "http/1.1",
      status: 200,
      in: 3,
      out: 6,
      ip: "127.0.0.1",
    });
    expect(typeof ok!.ms).toBe("number");
    expect(JSON.stringify(ok)).not.toContain("secret");
    expect(offline).toMatchObject({ rid: off.headers["x-request-id"], status: 502, error: "agent_offline" });
  });

  it("puts an X-Request-Id on errors, health, refusals and unparsable requests alike", async () => {
    const relay = await startStrictRelay({ requestRatePerMin: 1 });
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const peer = await startPeer(relay, local.url, { probe: false });
    const answers = [
      await fetchVia(relay.port(), peer.host, "/"),
      await fetchVia(relay.port(), peer.host, "/"), // rate_limited
      await fetchVia(relay.port(), OFFLINE, "/"),
      await fetchVia(relay.port(), "bad.localhost", "/"),
      await fetchVia(relay.port(), "localhost", "/nothing"),
      await fetchVia(relay.port(), "localhost", "/health"),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 429, 502, 400, 404, 200]);
    for (const a of answers) expect(a.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(answers.map((a) => a.headers["x-request-id"])).size).toBe(answers.length);
    const garbage = await rawExchange(relay.port(), "NOT HTTP\r\n\r\n");
    expect(garbage).toMatch(/^HTTP\/1\.1 400 [\s\S]*X-Request-Id: [0-9a-f-]{36}\r\n/);
    const upgrade = await rawExchange(
      relay.port(),
      `GET / HTTP/1.1\r\nHost: ${OFFLINE}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    );
    expect(upgrade).toMatch(/^HTTP\/1\.1 502 [\s\S]*X-Request-Id: [0-9a-f-]{36}\r\n/);
  });

  it("answers 400 bad_request to a request with two Host headers, rather than pick one", async () => {
    const relay = await startStrictRelay();
    const local = await startLocalServer((_req, res) => res.end("ok"));
    const peer = await startPeer(relay, local.url, { probe: false });
    const two = await rawExchange(
      relay.port(),
      `GET / HTTP/1.1\r\nHost: ${peer.host}\r\nHost: ${OFFLINE}\r\nConnection: close\r\n\r\n`,
    );
    expect(two).toMatch(/^HTTP\/1\.1 400 [\s\S]*\{"error":"bad_request"\}$/);
    expect(await metric(relay, 'agent_relay_errors_total{code="bad_request"}')).toBe(1);
  });

  it("takes the client IP from X-Forwarded-For only when --trust-proxy names the proxy", async () => {
    const seen: string[] = [];
    const local = await startLocalServer((req, res) => {
      seen.push(String(req.headers["x-forwarded-for"]));
      res.end("ok");
    });
    const headers = { "x-forwarded-for": "198.51.100.9, 203.0.113.7" };

    const plain = await loggedRelay();
    const p1 = await startPeer(plain.relay, local.url, { probe: false });
    await fetchVia(plain.relay.port(), p1.host, "/", { headers });
    const proxied = await loggedRelay({ trustProxy: ["127.0.0.1"] });
    const p2 = await startPeer(proxied.relay, local.url, { probe: false });
    await fetchVia(proxied.relay.port(), p2.host, "/", { headers });
    // Trusting a second hop walks one address further left.
    const chain = await loggedRelay({ trustProxy: ["127.0.0.1", "203.0.113.0/24"] });
    const p3 = await startPeer(chain.relay, local.url, { probe: false });
    await fetchVia(chain.relay.port(), p3.host, "/", { headers });

    expect(seen).toEqual(["127.0.0.1", "203.0.113.7", "198.51.100.9"]);
    await eventually(2000, () => chain.requests().length === 1);
    expect([plain, proxied, chain].map((r) => r.requests()[0]?.ip)).toEqual([
      "127.0.0.1",
      "203.0.113.7",
      "198.51.100.9",
    ]);
  });
});
