import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fetchVia, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";
import { countWrites, wsSocket } from "../helpers/socket-writes.ts";

afterEach(cleanup);

describe("the working tunnel", () => {
  it("forwards GET, HEAD and POST byte-for-byte and adds identity and forwarding headers", async () => {
    const relay = await startRelay();
    const local = await startLocalServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.stringify({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        res.writeHead(201, {
          "content-type": "application/json",
          "x-custom": "yes",
          "content-length": Buffer.byteLength(body),
        });
        res.end(req.method === "HEAD" ? undefined : body);
      });
    });
    const peer = await startPeer(relay, local.url);

    const get = await fetchVia(relay.port(), peer.host, "/path/x?q=1", {
      headers: { "x-agent-id": "spoofed", "x-forwarded-for": "6.6.6.6", authorization: "Bearer keep-me" },
    });
    expect(get.status).toBe(201);
    expect(get.headers["x-custom"]).toBe("yes");
    expect(get.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    const seen = JSON.parse(get.body.toString());
    expect(seen.method).toBe("GET");
    expect(seen.url).toBe("/path/x?q=1");
    expect(seen.headers["x-agent-id"]).toBe(peer.agentId);
    expect(seen.headers["x-agent-address"]).toBe(peer.identity.checksumAddress);
    expect(seen.headers["x-relay-origin"]).toBe("1");
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-forwarded-host"]).toBe(peer.host);
    expect(seen.headers.authorization).toBe("Bearer keep-me");
    expect(seen.headers.host).toBe(peer.host);
    // The relay's `Connection: close` is its own hop; the peer keeps its local connection alive.
    expect(seen.headers.connection).toBeUndefined();

    const head = await fetchVia(relay.port(), peer.host, "/h", { method: "HEAD" });
    expect(head.status).toBe(201);
    expect(head.body.byteLength).toBe(0);
    expect(Number(head.headers["content-length"])).toBeGreaterThan(0);

    const post = await fetchVia(relay.port(), peer.host, "/submit", { method: "POST", body: "hello body" });
    expect(JSON.parse(post.body.toString())).toMatchObject({ method: "POST", body: "hello body" });
  });

  it("moves 64 MiB of random bytes each way unchanged (sha256)", async () => {
    const relay = await startRelay();
    const payload = randomBytes(64 * 1024 * 1024);
    const digest = createHash("sha256").update(payload).digest("hex");
    const local = await startLocalServer((req, res) => {
      if (req.method === "GET") {
        res.writeHead(200, { "content-length": payload.byteLength });
        res.end(payload);
        return;
      }
      const h = createHash("sha256");
      let n = 0;
      req.on("data", (c: Buffer) => {
        h.update(c);
        n += c.byteLength;
      });
      req.on("end", () => res.end(JSON.stringify({ n, sha: h.digest("hex") })));
    });
    const peer = await startPeer(relay, local.url);

    const down = await fetchVia(relay.port(), peer.host, "/blob");
    expect(down.body.byteLength).toBe(payload.byteLength);
    expect(createHash("sha256").update(down.body).digest("hex")).toBe(digest);

    const up = await fetchVia(relay.port(), peer.host, "/upload", { method: "POST", body: payload });
    expect(JSON.parse(up.body.toString())).toEqual({ n: payload.byteLength, sha: digest });
  });

  it("keeps a stalled download's bytes intact while another one reads through the same peer", async () => {
    // The peer reads every local socket into one shared buffer; bytes a full window holds back must
    // be copied out of it before the next read, or the other download's bytes overwrite them. /a is
    // larger than the relay's largest stream window and the kernel's buffers together, so it stalls
    // at the peer while /b moves (test/yamux/stream.test.ts checks the copy itself, deterministically).
    const relay = await startRelay();
    const blobs = { "/a": randomBytes(32 * 1024 * 1024), "/b": randomBytes(8 * 1024 * 1024) };
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    const local = await startLocalServer((req, res) => {
      const blob = blobs[req.url as "/a" | "/b"];
      res.writeHead(200, { "content-length": blob.byteLength });
      res.end(blob);
    });
    const peer = await startPeer(relay, local.url);
    let resumeA: () => void = () => {};
    let started: () => void = () => {};
    const headOfA = new Promise<void>((r) => {
      started = r;
    });
    const a = new Promise<Buffer>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/a", headers: { host: peer.host }, agent: false },
        (res) => {
          res.pause(); // not read until /b is done: /a's stream stops at its window
          resumeA = () => {
            const parts: Buffer[] = [];
            res.on("data", (c: Buffer) => parts.push(c));
            res.on("end", () => resolve(Buffer.concat(parts)));
            res.resume();
          };
          started();
        },
      );
      req.on("error", reject);
      req.end();
    });
    await headOfA;
    const b = await fetchVia(relay.port(), peer.host, "/b");
    expect(sha(b.body)).toBe(sha(blobs["/b"]));
    resumeA();
    expect(sha(await a)).toBe(sha(blobs["/a"]));
  });

  it("delivers the first SSE event before the server ends the response", async () => {
    const relay = await startRelay();
    let finish: () => void = () => {};
    const local = await startLocalServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write("data: first\n\n");
      finish = () => res.end("data: last\n\n");
    });
    const peer = await startPeer(relay, local.url);
    const events: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/events", headers: { host: peer.host } },
        (res) => {
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            events.push(chunk);
            // The first event arrived while the server still holds the response open.
            if (events.length === 1) {
              expect(chunk).toBe("data: first\n\n");
              finish();
            }
          });
          res.on("end", resolve);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(events.join("")).toBe("data: first\n\ndata: last\n\n");
  });

  it("serves 1,000 concurrent requests on one tunnel, each answered correctly", async () => {
    const relay = await startRelay();
    const pending: Array<() => void> = [];
    const local = await startLocalServer((req, res) => {
      // Hold every answer until all 1,000 are in flight at once.
      pending.push(() => res.end(`echo:${req.url}`));
      if (pending.length === 1000) for (const p of pending.splice(0)) p();
    });
    local.server.maxConnections = 2000;
    const peer = await startPeer(relay, local.url);
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => fetchVia(relay.port(), peer.host, `/r/${i}`)),
    );
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.body.toString()).toBe(`echo:/r/${i}`);
    });
  });

  it("writes a request head and its handed-over body to the tunnel in one socket write", async () => {
    const relay = await startRelay();
    const body = randomBytes(48 * 1024); // with its head, one read of the public socket
    let delivered!: (b: Buffer) => void;
    const received = new Promise<Buffer>((resolve) => {
      delivered = resolve;
    });
    const local = await startLocalServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.end("ok");
        delivered(Buffer.concat(chunks));
      });
    });
    // A plain link: a Noise one copies every byte into its encrypted messages anyway.
    const peer = await startPeer(relay, local.url, { secureChannel: "never" });
    const writes = countWrites(wsSocket([...relay.registry.all()][0]!.ws));
    const client = connect(relay.port(), "127.0.0.1", () => {
      const head = `POST /up HTTP/1.1\r\nHost: ${peer.host}\r\nContent-Length: ${body.length}\r\n\r\n`;
      client.write(Buffer.concat([Buffer.from(head), body]));
    });
    client.on("error", () => {});
    const got = await received;
    client.destroy();
    expect(got.equals(body)).toBe(true);
    // The SYN with the head, then the body as a message of its own: one write (two without the cork).
    expect(writes.n).toBe(1);
  });
});
