/**
 * Keep-alive connections from the peer to the local server, end to end: a real relay, a real peer,
 * and local servers that count their connections. Responses of every framing must come through
 * whole, a connection is reused only when its exchange ended cleanly, and a stale one is handled.
 */
import { createHash, randomBytes } from "node:crypto";
import { request } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type ConnectionUser, LocalPool } from "../../src/peer/local-pool.ts";
import { ERROR_HEADER } from "../../src/protocol/constants.ts";
import {
  cleanup,
  fetchVia,
  startLocalServer,
  startPeer,
  startRawLocalServer,
  startRelay,
} from "../helpers/harness.ts";

afterEach(cleanup);

/** A local server answering with `handler`, counting the TCP connections it accepted. */
async function countingServer(handler: Parameters<typeof startLocalServer>[0]) {
  const local = await startLocalServer(handler);
  const sockets: Socket[] = [];
  local.server.on("connection", (s: Socket) => sockets.push(s));
  return { ...local, sockets };
}

describe("keep-alive connections to the local server", () => {
  it("carries one request after another on one connection, whatever the response framing", async () => {
    const local = await countingServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        switch (req.url) {
          case "/length":
            return void res.end(`len:${body.toString()}`);
          case "/chunked":
            res.write("part one,");
            res.addTrailers({ "x-digest": "abc" });
            return void setImmediate(() => res.end("part two"));
          case "/empty":
            res.statusCode = 204;
            return void res.end();
          case "/cached":
            res.statusCode = 304;
            return void res.end();
          default:
            res.setHeader("content-length", 7);
            return void res.end(req.method === "HEAD" ? undefined : "headers");
        }
      });
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const port = relay.port();

    const answers = [
      await fetchVia(port, peer.host, "/length", { method: "POST", body: "abc" }),
      await fetchVia(port, peer.host, "/chunked", { headers: { te: "trailers" } }),
      await fetchVia(port, peer.host, "/empty"),
      await fetchVia(port, peer.host, "/cached"),
      await fetchVia(port, peer.host, "/head", { method: "HEAD" }),
      await fetchVia(port, peer.host, "/length", { method: "POST", body: "x".repeat(100_000) }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 204, 304, 200, 200]);
    expect(answers[0]!.body.toString()).toBe("len:abc");
    expect(answers[1]!.body.toString()).toBe("part one,part two");
    expect(answers[4]!.headers["content-length"]).toBe("7");
    expect(answers[4]!.body.byteLength).toBe(0);
    expect(answers[5]!.body.toString()).toBe(`len:${"x".repeat(100_000)}`);
    expect(local.sockets).toHaveLength(1);
  });

  it("sends a body of unknown length chunked and still reuses the connection", async () => {
    const local = await countingServer((req, res) => {
      const hash = createHash("sha256");
      req.on("data", (c: Buffer) => hash.update(c));
      req.on("end", () => res.end(`${req.headers["transfer-encoding"]} ${hash.digest("hex")}`));
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const body = Buffer.alloc(300_000, 7);
    const sha = createHash("sha256").update(body).digest("hex");
    for (let i = 0; i < 2; i++) {
      const text = await new Promise<string>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: relay.port(),
            method: "PUT",
            path: "/",
            headers: { host: peer.host },
            agent: false,
          },
          (res) => {
            let s = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => {
              s += c;
            });
            res.on("end", () => resolve(s));
          },
        );
        req.on("error", reject);
        req.write(body.subarray(0, 1000)); // no Content-Length: the client sends chunked
        req.end(body.subarray(1000));
      });
      expect(text).toBe(`chunked ${sha}`);
    }
    expect(local.sockets).toHaveLength(1);
  });

  it("passes 100 Continue and 103 Early Hints on, and reuses the connection after them", async () => {
    const local = await countingServer((req, res) => {
      res.writeEarlyHints({ link: "</style.css>; rel=preload" });
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.byteLength;
      });
      req.on("end", () => res.end(`got ${n}`));
    });
    local.server.on("checkContinue", (req, res) => {
      res.writeContinue();
      local.server.emit("request", req, res);
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const continued = await new Promise<{ sawContinue: boolean; body: string }>((resolve, reject) => {
      let sawContinue = false;
      const req = request({
        host: "127.0.0.1",
        port: relay.port(),
        method: "POST",
        path: "/",
        headers: { host: peer.host, expect: "100-continue", "content-length": 5 },
        agent: false,
      });
      req.on("continue", () => {
        sawContinue = true;
        req.end("hello");
      });
      req.on("response", (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ sawContinue, body }));
      });
      req.on("error", reject);
    });
    expect(continued).toEqual({ sawContinue: true, body: "got 5" });
    expect((await fetchVia(relay.port(), peer.host, "/")).body.toString()).toBe("got 0");
    expect(local.sockets).toHaveLength(1);
  });

  it("opens a new connection after Connection: close, a response read to the close, or extra bytes", async () => {
    const local = await startRawLocalServer((socket, _nth, head) => {
      const path = head.split(" ")[1];
      if (path === "/close")
        socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
      else if (path === "/eof") socket.end("HTTP/1.1 200 OK\r\n\r\nuntil the end");
      else if (path === "/extra") socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
      else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain");
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const port = relay.port();
    const bodies: string[] = [];
    for (const path of ["/close", "/eof", "/extra", "/a", "/a"]) {
      const a = await fetchVia(port, peer.host, path);
      expect(a.status).toBe(200);
      bodies.push(a.body.toString());
    }
    expect(bodies).toEqual(["ok", "until the end", "ok", "plain", "plain"]);
    // One connection each for the first three, then one carries both plain requests.
    expect(local.sockets).toHaveLength(4);
  });

  it("repeats a GET on a new connection when a kept-alive one closes under it, but never a POST", async () => {
    let posts = 0;
    const local = await startRawLocalServer((socket, nth, head) => {
      if (head.startsWith("POST")) posts++;
      // Like a server whose keep-alive timeout fires just as the next request arrives.
      if (nth > 0) return void socket.destroy();
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const port = relay.port();
    expect((await fetchVia(port, peer.host, "/warm")).body.toString()).toBe("ok");
    const again = await fetchVia(port, peer.host, "/get");
    expect(again.status).toBe(200);
    expect(again.body.toString()).toBe("ok");
    expect(local.sockets).toHaveLength(2);

    const post = await fetchVia(port, peer.host, "/post", { method: "POST", body: "once" });
    expect(post.status).toBe(502);
    expect(post.headers[ERROR_HEADER.toLowerCase()]).toBe("tunnel_error");
    expect(posts).toBe(1);
  });

  it("closes the local connection when the public client leaves mid-response, and does not reuse it", async () => {
    let socketClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      socketClosed = resolve;
    });
    const local = await countingServer((req, res) => {
      if (req.url === "/slow") {
        req.socket.once("close", socketClosed);
        res.writeHead(200, { "content-length": 1000 });
        return void res.write("x".repeat(10));
      }
      res.end("fine");
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/slow", headers: { host: peer.host }, agent: false },
        (res) => res.once("data", () => req.destroy()),
      );
      req.on("error", () => {});
      req.on("close", resolve);
      req.on("timeout", reject);
      req.end();
    });
    await closed;
    expect((await fetchVia(relay.port(), peer.host, "/")).body.toString()).toBe("fine");
    expect(local.sockets).toHaveLength(2);
  });

  it("answers 1,000 concurrent requests over the pool, each with its own body", async () => {
    const local = await countingServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => res.end(Buffer.concat(chunks).reverse()));
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        fetchVia(relay.port(), peer.host, "/", { method: "POST", body: `request ${i}` }),
      ),
    );
    answers.forEach((a, i) => {
      expect(a.body.toString()).toBe(Buffer.from(`request ${i}`).reverse().toString());
    });
    const opened = local.sockets.length;
    expect(opened).toBeLessThanOrEqual(1000);
    // Idle now: the next requests find kept-alive connections instead of opening more.
    for (let i = 0; i < 5; i++) await fetchVia(relay.port(), peer.host, "/", { method: "POST", body: "z" });
    expect(local.sockets.length).toBe(opened);
  });

  it("keeps as many idle connections as requests may be in flight: a second burst opens none", async () => {
    // Each burst's requests are held until all of them have arrived, so all are in flight at once.
    const burst = 400;
    let held: Array<() => void> = [];
    const local = await countingServer((_req, res) => {
      held.push(() => res.end("ok"));
      if (held.length === burst) {
        for (const answer of held) answer();
        held = [];
      }
    });
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    const round = () =>
      Promise.all(Array.from({ length: burst }, () => fetchVia(relay.port(), peer.host, "/")));
    for (const a of await round()) expect(a.status).toBe(200);
    expect(local.sockets.length).toBe(burst);
    for (const a of await round()) expect(a.status).toBe(200);
    expect(local.sockets.length).toBe(burst); // before, only 256 were kept and the rest reopened
  });

  it("closes its idle connections when the forwarder closes", async () => {
    const local = await countingServer((_req, res) => res.end("ok"));
    const relay = await startRelay();
    const peer = await startPeer(relay, local.url);
    await fetchVia(relay.port(), peer.host, "/");
    const socket = local.sockets[0]!;
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    peer.tunnel.forwarder.close();
    await closed;
    expect(socket.destroyed).toBe(true);
  });

  it("never hands out an idle connection past its time, even before the sweeper gets to it", async () => {
    const local = await countingServer((_req, res) => res.end("ok"));
    const pool = new LocalPool({ host: "127.0.0.1", port: local.port, idleMs: 60_000 });
    const user: ConnectionUser = { onData: () => false, onEnd() {}, onClose() {}, onDrain() {} };
    const first = pool.acquire(user);
    await new Promise<void>((resolve) => first.socket.once("connect", () => resolve()));
    pool.release(first);
    expect(pool.acquire(user)).toBe(first); // in time: reused
    pool.release(first);
    first.expires = 0; // as if its idle time had run out a moment ago
    const second = pool.acquire(user);
    expect(second).not.toBe(first);
    expect(first.socket.destroyed).toBe(true);
    second.destroy();
    pool.close();
  });

  /** 1 MiB already in the kernel when reading starts, read by a user that keeps large reads or not. */
  async function readLarge(keeps: boolean) {
    const payload = randomBytes(1024 * 1024);
    let written!: () => void;
    const inKernel = new Promise<void>((resolve) => {
      written = resolve;
    });
    const server = createTcpServer((s) => {
      s.on("error", () => {});
      s.end(payload, () => written());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const pool = new LocalPool({ host: "127.0.0.1", port: (server.address() as AddressInfo).port });
    const got: Array<{ chunk: Buffer; owned: boolean }> = [];
    let ended!: () => void;
    const end = new Promise<void>((resolve) => {
      ended = resolve;
    });
    const user: ConnectionUser = {
      // Owned chunks are kept as they are; the shared buffer's views are copied, as the contract says.
      onData: (chunk, owned) => {
        got.push({ chunk: owned ? chunk : Buffer.from(chunk), owned });
        return keeps;
      },
      onEnd: () => ended(),
      onClose() {},
      onDrain() {},
    };
    const conn = pool.acquire(user);
    // Paused until the whole payload sits in the kernel (Linux's loopback buffers hold 1 MiB): the
    // reads that follow are large.
    conn.socket.pause();
    await inKernel;
    conn.socket.resume();
    await end;
    conn.destroy();
    pool.close();
    server.close();
    expect(Buffer.concat(got.map((g) => g.chunk)).equals(payload)).toBe(true); // no later read overwrote one
    expect(got.some((g) => g.chunk.byteLength >= 128 * 1024)).toBe(true);
    return got;
  }

  it("hands large reads over with their own buffers, and copies nothing it does not own", async () => {
    const got = await readLarge(true);
    const owned = got.filter((g) => g.owned).map((g) => g.chunk);
    expect(owned.length).toBeGreaterThan(0);
    for (const c of owned) expect(c.byteLength).toBeGreaterThanOrEqual(128 * 1024); // half the buffer or more
    expect(new Set(owned.map((c) => c.buffer)).size).toBe(owned.length); // a buffer each
    expect(got[0]!.owned).toBe(false); // the first large read lands in the shared buffer
  });

  it("hands nothing over to a user that would copy it anyway (a Noise link)", async () => {
    const got = await readLarge(false);
    expect(got.filter((g) => g.owned)).toEqual([]);
  });
});
