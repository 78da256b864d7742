/**
 * The public side over HTTP/2 (h2c with prior knowledge, on the same plain port as HTTP/1.1):
 * one yamux stream per HTTP/2 request, trailers, 100-continue, HEAD, streaming, and hang-ups.
 */

import { request } from "node:http";
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fetchVia, startLocalServer, startPeer } from "../helpers/harness.ts";
import { errorCode, eventually, metric, startStrictRelay } from "./helpers.ts";

const sessions: ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await cleanup();
});

function h2(port: number): ClientHttp2Session {
  const s = connect(`http://127.0.0.1:${port}`);
  s.on("error", () => {});
  sessions.push(s);
  return s;
}

interface H2Answer {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
  trailers?: Record<string, unknown>;
}

function h2Request(
  s: ClientHttp2Session,
  headers: Record<string, string | string[]>,
  body?: string | Buffer,
): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = s.request(headers, { endStream: body === undefined });
    let status = 0;
    let head: Record<string, unknown> = {};
    let trailers: Record<string, unknown> | undefined;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      status = Number(h[":status"]);
      head = h;
    });
    req.on("trailers", (t) => {
      trailers = t;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () =>
      resolve({ status, headers: head, body: Buffer.concat(chunks), ...(trailers ? { trailers } : {}) }),
    );
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

/** A local server that echoes what it received as JSON. */
function echoServer() {
  return startLocalServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.stringify({
        method: req.method,
        url: req.url,
        version: req.httpVersion,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        trailers: req.trailers,
      });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    });
  });
}

describe("HTTP/2 and HTTP/1.1 on one plain port", () => {
  it("serves h2c with prior knowledge and HTTP/1.1 side by side, each request as HTTP/1.1 to the agent", async () => {
    const relay = await startStrictRelay();
    const local = await echoServer();
    const peer = await startPeer(relay, local.url, { probe: false });

    const one = await fetchVia(relay.port(), peer.host, "/h1?x=1", { method: "POST", body: "by h1" });
    expect(JSON.parse(one.body.toString())).toMatchObject({ method: "POST", url: "/h1?x=1", body: "by h1" });

    const s = h2(relay.port());
    const two = await h2Request(
      s,
      {
        ":method": "POST",
        ":path": "/h2?y=2",
        ":authority": peer.host,
        cookie: ["a=1", "b=2"],
        "x-custom": "yes",
      },
      "by h2",
    );
    expect(two.status).toBe(200);
    expect(two.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const seen = JSON.parse(two.body.toString());
    expect(seen).toMatchObject({ method: "POST", url: "/h2?y=2", version: "1.1", body: "by h2" });
    expect(seen.headers).toMatchObject({
      host: peer.host,
      cookie: "a=1; b=2",
      "x-custom": "yes",
      "x-forwarded-proto": "http",
      "x-forwarded-host": peer.host,
      "x-request-id": two.headers["x-request-id"],
    });
    expect(Object.keys(seen.headers).some((k) => k.startsWith(":"))).toBe(false);

    const offline = await h2Request(s, { ":path": "/", ":authority": `${"ab".repeat(20)}.localhost` });
    expect(offline.status).toBe(502);
    expect(errorCode(offline.body)).toBe("agent_offline");
  });

  it("runs many concurrent requests from one HTTP/2 connection in parallel, each on its own stream", async () => {
    const relay = await startStrictRelay();
    const waiting: Array<() => void> = [];
    const local = await startLocalServer((req, res) => {
      // Nothing is answered until all 100 are in: only parallel streams can get there.
      waiting.push(() => res.end(`answer ${req.url}`));
      if (waiting.length === 100) for (const w of waiting.splice(0)) w();
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const s = h2(relay.port());
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => h2Request(s, { ":path": `/r/${i}`, ":authority": peer.host })),
    );
    expect(answers.map((a) => a.body.toString())).toEqual(answers.map((_, i) => `answer /r/${i}`));
    expect(await metric(relay, "agent_relay_streams_opened_total")).toBe(100);
  });

  it("answers 431 for an HTTP/2 header list over the cap", async () => {
    const relay = await startStrictRelay({ maxHeaderBytes: 4096 });
    const local = await echoServer();
    const peer = await startPeer(relay, local.url, { probe: false });
    const s = h2(relay.port());
    const big = await h2Request(s, { ":path": "/", ":authority": peer.host, "x-fill": "a".repeat(5000) });
    expect(big.status).toBe(431);
    expect(errorCode(big.body)).toBe("request_header_too_large");
  });
});

describe("trailers, 100-continue and HEAD", () => {
  it("passes response trailers to HTTP/1.1 and HTTP/2 clients, and request trailers to the agent", async () => {
    const relay = await startStrictRelay();
    const local = await startLocalServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain", trailer: "x-checksum" });
        res.write("body, then trailers");
        res.addTrailers({ "x-checksum": "c0ffee", "x-seen-trailer": String(req.trailers["x-client-sum"]) });
        res.end();
      });
    });
    const peer = await startPeer(relay, local.url, { probe: false });

    const viaH1 = await new Promise<{ body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: relay.port(),
          method: "POST",
          path: "/t",
          headers: { host: peer.host, te: "trailers", trailer: "x-client-sum" },
        },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c;
          });
          res.on("end", () => resolve({ body, trailers: res.trailers }));
        },
      );
      req.on("error", reject);
      req.write("chunked request body");
      req.addTrailers({ "x-client-sum": "1234" });
      req.end();
    });
    expect(viaH1).toEqual({
      body: "body, then trailers",
      trailers: { "x-checksum": "c0ffee", "x-seen-trailer": "1234" },
    });

    const viaH2 = await h2Request(h2(relay.port()), {
      ":path": "/t",
      ":authority": peer.host,
      te: "trailers",
    });
    expect(viaH2.body.toString()).toBe("body, then trailers");
    expect(viaH2.trailers).toMatchObject({ "x-checksum": "c0ffee" });
  });

  it("lets the agent decide on 100-continue, over HTTP/1.1 and HTTP/2", async () => {
    const relay = await startStrictRelay();
    const local = await echoServer();
    // Refuse uploads to /refuse without reading them; continue everything else.
    local.server.on("checkContinue", (req, res) => {
      if (req.url === "/refuse") {
        res.writeHead(401, { "content-type": "text/plain" });
        return res.end("no");
      }
      res.writeContinue();
      local.server.emit("request", req, res);
    });
    const peer = await startPeer(relay, local.url, { probe: false });

    const h1 = (path: string) =>
      new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
        let continued = false;
        const req = request({
          host: "127.0.0.1",
          port: relay.port(),
          method: "PUT",
          path,
          headers: { host: peer.host, expect: "100-continue", "content-length": 6 },
        });
        req.on("continue", () => {
          continued = true;
          req.end("upload");
        });
        req.on("response", (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c;
          });
          res.on("end", () => resolve({ continued, status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.flushHeaders();
      });
    const accepted = await h1("/ok");
    expect(accepted.continued).toBe(true);
    expect(JSON.parse(accepted.body)).toMatchObject({ method: "PUT", body: "upload" });
    expect(await h1("/refuse")).toEqual({ continued: false, status: 401, body: "no" });

    const s = h2(relay.port());
    const viaH2 = await new Promise<{ continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = s.request({
        ":method": "PUT",
        ":path": "/ok",
        ":authority": peer.host,
        expect: "100-continue",
      });
      req.on("continue", () => {
        continued = true;
        req.end("h2 upload");
      });
      let body = "";
      req.on("data", (c: Buffer) => {
        body += c;
      });
      req.on("end", () => resolve({ continued, body }));
      req.on("error", reject);
    });
    expect(viaH2.continued).toBe(true);
    expect(JSON.parse(viaH2.body)).toMatchObject({ body: "h2 upload" });
  });

  it("answers HEAD with the headers and no body, over HTTP/1.1 and HTTP/2", async () => {
    const relay = await startStrictRelay();
    const local = await echoServer();
    const peer = await startPeer(relay, local.url, { probe: false });
    const viaH1 = await fetchVia(relay.port(), peer.host, "/head", { method: "HEAD" });
    expect(viaH1.status).toBe(200);
    expect(Number(viaH1.headers["content-length"])).toBeGreaterThan(0);
    expect(viaH1.body.byteLength).toBe(0);
    const viaH2 = await h2Request(h2(relay.port()), {
      ":method": "HEAD",
      ":path": "/head",
      ":authority": peer.host,
    });
    expect(viaH2.status).toBe(200);
    expect(Number(viaH2.headers["content-length"])).toBeGreaterThan(0);
    expect(viaH2.body.byteLength).toBe(0);
  });
});

describe("long-lived streams", () => {
  it("delivers SSE and NDJSON event by event: each arrives before the next is written", async () => {
    const relay = await startStrictRelay();
    const writers = new Map<string, (i: number) => void>();
    const local = await startLocalServer((req, res) => {
      const sse = req.url === "/sse";
      res.writeHead(200, { "content-type": sse ? "text/event-stream" : "application/x-ndjson" });
      writers.set(req.url!, (i) => {
        if (i === 5) return void res.end();
        res.write(sse ? `data: event ${i}\n\n` : `${JSON.stringify({ event: i })}\n`);
      });
      writers.get(req.url!)!(0);
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    /** Reads events; only after event i arrives does it ask the server for event i+1. */
    const lockstep = (chunks: AsyncIterable<Buffer | string>, path: string) =>
      (async () => {
        const got: string[] = [];
        for await (const c of chunks) {
          got.push(c.toString());
          writers.get(path)!(got.length);
        }
        return got;
      })();
    const h1Events = await new Promise<string[]>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/sse", headers: { host: peer.host } },
        (res) => lockstep(res, "/sse").then(resolve, reject),
      );
      req.on("error", reject);
      req.end();
    });
    expect(h1Events).toEqual([0, 1, 2, 3, 4].map((i) => `data: event ${i}\n\n`));
    const s = h2(relay.port());
    const stream = s.request({ ":path": "/ndjson", ":authority": peer.host });
    const h2Events = await lockstep(stream, "/ndjson");
    expect(h2Events).toEqual([0, 1, 2, 3, 4].map((i) => `{"event":${i}}\n`));
  });

  it("keeps an SSE stream with comment keepalives open well past the first-byte and idle timeouts", async () => {
    const relay = await startStrictRelay({ firstByteTimeoutMs: 200, idleTimeoutMs: 300 });
    const local = await startLocalServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      let n = 0;
      const t = setInterval(() => {
        if (++n === 15) {
          clearInterval(t);
          res.end("data: done\n\n");
        } else res.write(": keepalive\n\n");
      }, 100);
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const answer = await fetchVia(relay.port(), peer.host, "/events");
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe(`${": keepalive\n\n".repeat(14)}data: done\n\n`);
  });

  it("resets the stream when the client hangs up: the local server sees its socket close within 1 s", async () => {
    const relay = await startStrictRelay();
    const closed = new Map<string, number>();
    const local = await startLocalServer((req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: first\n\n");
      req.socket.on("close", () => closed.set(req.url!, Date.now()));
    });
    const peer = await startPeer(relay, local.url, { probe: false });

    const hungUp = await new Promise<number>((resolve) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/h1", headers: { host: peer.host } },
        (res) =>
          res.once("data", () => {
            req.destroy();
            resolve(Date.now());
          }),
      );
      req.on("error", () => {});
      req.end();
    });
    expect(await eventually(1000, () => closed.has("/h1"))).toBe(true);
    expect(closed.get("/h1")! - hungUp).toBeLessThan(1000);

    const s = h2(relay.port());
    const stream = s.request({ ":path": "/h2", ":authority": peer.host });
    await new Promise((r) => stream.once("data", r));
    const cancelled = Date.now();
    stream.close(constants.NGHTTP2_CANCEL);
    expect(await eventually(1000, () => closed.has("/h2"))).toBe(true);
    expect(closed.get("/h2")! - cancelled).toBeLessThan(1000);
    expect(await eventually(1000, () => relay.registry.streamCount() === 0)).toBe(true);
  });
});
