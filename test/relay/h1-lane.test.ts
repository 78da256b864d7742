/**
 * The HTTP/1.1 fast lane (src/relay/h1-lane.ts), end to end on raw public sockets: which requests
 * it takes, keep-alive and pipelining, answers re-framed for the client, the hand-over to Node's
 * server in the middle of a connection, and the ways an exchange ends early.
 */
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { plainRequest } from "../../src/relay/h1-lane.ts";
import { cleanup, startLocalServer, startPeer, startRawLocalServer, startRelay } from "../helpers/harness.ts";
import { eventually, metric, startStrictRelay } from "./helpers.ts";

afterEach(cleanup);

const LANE = "agent_relay_fast_lane_requests";

interface Reply {
  status: number;
  /** Lowercase names; repeated names keep the last value. */
  headers: Record<string, string>;
  body: Buffer;
  trailers: Record<string, string>;
}

/**
 * A public connection that reads HTTP/1.1 answers itself, written here rather than with the code
 * under test: Content-Length, chunked (with trailers), or no body (for `noBody`).
 */
class Client {
  readonly socket: Socket;
  /** What came and is not read yet, joined only when a line or enough bytes are there. */
  private parts: Buffer[] = [];
  private size = 0;
  private wake: (() => void) | undefined;
  closed = false;
  ended = false;
  errored = false;

  /** `halfOpen`: the client's side stays open after the relay's FIN. */
  constructor(port: number, halfOpen = false) {
    this.socket = connect({ host: "127.0.0.1", port, allowHalfOpen: halfOpen });
    this.socket.on("end", () => {
      this.ended = true;
    });
    this.socket.on("data", (c: Buffer) => {
      this.parts.push(c);
      this.size += c.byteLength;
      this.wake?.();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    this.socket.on("error", () => {
      this.errored = true;
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  private async until<T>(take: () => T | undefined): Promise<T> {
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.closed) throw new Error(`connection closed; unread: ${this.flat().toString("latin1")}`);
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
  }

  private flat(): Buffer {
    if (this.parts.length !== 1) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0]!;
  }

  private cut(n: number, skip: number): Buffer {
    const all = this.flat();
    this.parts = [all.subarray(n + skip)];
    this.size -= n + skip;
    return all.subarray(0, n);
  }

  private line(): string | undefined {
    const i = this.flat().indexOf("\r\n");
    return i === -1 ? undefined : this.cut(i, 2).toString("latin1");
  }

  private bytes(n: number): Buffer | undefined {
    return this.size < n ? undefined : this.cut(n, 0);
  }

  private async fields(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (let l = await this.until(() => this.line()); l !== ""; l = await this.until(() => this.line())) {
      const colon = l.indexOf(":");
      out[l.slice(0, colon).toLowerCase()] = l.slice(colon + 1).trim();
    }
    return out;
  }

  async reply(noBody = false): Promise<Reply> {
    const status = Number((await this.until(() => this.line())).split(" ")[1]);
    const headers = await this.fields();
    const parts: Buffer[] = [];
    let trailers: Record<string, string> = {};
    if (noBody || status === 204 || status === 304) {
      // no body
    } else if (headers["content-length"] !== undefined) {
      parts.push(await this.until(() => this.bytes(Number(headers["content-length"]))));
    } else if (headers["transfer-encoding"] === "chunked") {
      for (;;) {
        const size = Number.parseInt(await this.until(() => this.line()), 16);
        if (size === 0) break;
        parts.push(await this.until(() => this.bytes(size)));
        await this.until(() => this.line());
      }
      trailers = await this.fields();
    } else throw new Error("an answer without framing");
    return { status, headers, body: Buffer.concat(parts), trailers };
  }

  async closedNow(): Promise<boolean> {
    await this.until(() => (this.closed ? true : undefined));
    return true;
  }

  /**
   * On a half-open client that keeps writing after the relay's FIN: whether the relay's side is
   * really gone (a write fails), as Node's server destroys a socket it answered with close.
   */
  async goneAfterFin(): Promise<boolean> {
    if (!(await eventually(5000, () => this.ended))) return false;
    return eventually(5000, () => {
      if (!this.errored) this.socket.write("x");
      return this.errored;
    });
  }
}

/** A local server that answers with what it got: method, path, body length and sha256. */
async function echoAgent(relayConfig = {}) {
  const relay = await startStrictRelay(relayConfig);
  const seen: Record<string, string | string[] | undefined>[] = [];
  const local = await startLocalServer((req, res) => {
    seen.push(req.headers);
    const hash = createHash("sha256");
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.byteLength;
      hash.update(c);
    });
    req.on("end", () => res.end(`${req.method} ${req.url} ${n} ${hash.digest("hex").slice(0, 16)}`));
  });
  const peer = await startPeer(relay, local.url, { probe: false });
  return { relay, peer, seen };
}

const sha16 = (b: Buffer) => createHash("sha256").update(b).digest("hex").slice(0, 16);

describe("which requests the fast lane takes", () => {
  const head = (lines: string[]) => Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  const plain = ["GET /a?b=1 HTTP/1.1", "Host: x.localhost"];

  it("takes a plain GET, and a POST with one Content-Length", () => {
    expect(plainRequest(head(plain))).toMatchObject({
      method: "GET",
      target: "/a?b=1",
      length: 0,
      close: false,
    });
    const post = plainRequest(
      head(["POST / HTTP/1.1", "host: x", "Content-Length: 12", "Connection: Close"]),
    );
    expect(post).toMatchObject({ method: "POST", host: "x", length: 12, close: true });
  });

  it.each([
    ["HTTP/1.0", ["GET / HTTP/1.0", "Host: x"]],
    ["an absolute-form target", ["GET http://x/ HTTP/1.1", "Host: x"]],
    ["an unknown method", ["PURGE / HTTP/1.1", "Host: x"]],
    ["a lowercase method", ["get / HTTP/1.1", "Host: x"]],
    ["no Host", ["GET / HTTP/1.1"]],
    ["two Hosts", [...plain, "Host: y"]],
    ["an empty Host", ["GET / HTTP/1.1", "Host:"]],
    ["Transfer-Encoding", ["POST / HTTP/1.1", "Host: x", "Transfer-Encoding: chunked"]],
    [
      "Transfer-Encoding and Content-Length",
      ["POST / HTTP/1.1", "Host: x", "Content-Length: 3", "transfer-encoding: x"],
    ],
    ["two Content-Lengths", ["POST / HTTP/1.1", "Host: x", "Content-Length: 3", "Content-Length: 3"]],
    ["a signed Content-Length", ["POST / HTTP/1.1", "Host: x", "Content-Length: +3"]],
    ["Upgrade", [...plain, "Connection: upgrade", "Upgrade: websocket"]],
    ["Expect", [...plain, "Expect: 100-continue"]],
    ["a folded header", [...plain, "X-A: 1", " 2"]],
    ["a space before the colon", [...plain, "X-A : 1"]],
    ["a bare LF", ["GET / HTTP/1.1", "Host: x\nX-A: 1"]],
    ["a control character in a value", [...plain, "X-A: a\u0001b"]],
    ["DEL in a value", [...plain, "X-A: \u007f"]],
  ])("leaves %s to Node's server", (_what, lines) => {
    expect(plainRequest(head(lines))).toBeNull();
  });
});

describe("the fast lane", () => {
  it("serves pipelined requests on one connection, in order, each with its own request id", async () => {
    const { relay, peer, seen } = await echoAgent();
    const c = new Client(relay.port());
    const body = Buffer.from("x".repeat(70_000));
    c.send(
      Buffer.concat([
        Buffer.from(`GET /1 HTTP/1.1\r\nHost: ${peer.host}\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n`),
        Buffer.from(`POST /2 HTTP/1.1\r\nHost: ${peer.host}\r\nContent-Length: ${body.byteLength}\r\n\r\n`),
        body,
        Buffer.from(`DELETE /3 HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`),
      ]),
    );
    const replies = [await c.reply(), await c.reply(), await c.reply()];
    expect(replies.map((r) => r.body.toString())).toEqual([
      `GET /1 0 ${sha16(Buffer.alloc(0))}`,
      `POST /2 70000 ${sha16(body)}`,
      `DELETE /3 0 ${sha16(Buffer.alloc(0))}`,
    ]);
    for (const r of replies) {
      expect(r.status).toBe(200);
      expect(r.headers.connection).toBe("keep-alive");
      expect(r.headers.date).toMatch(/GMT$/);
    }
    const ids = new Set(replies.map((r) => r.headers["x-request-id"]));
    expect(ids.size).toBe(3);
    // The relay's forwarding headers, not the client's copies.
    expect(seen[0]!["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen[0]!["x-request-id"]).toBe(replies[0]!.headers["x-request-id"]);
    expect(await metric(relay, LANE)).toBe(3);
    expect(await metric(relay, 'agent_relay_requests_total{class="2xx"}')).toBe(3);
    c.socket.destroy();
  });

  it("sends an answer read to the close as chunked, with trailers, and keeps the connection", async () => {
    const relay = await startStrictRelay();
    const local = await startRawLocalServer((socket, _nth, head) => {
      if (head.startsWith("GET /close"))
        socket.end("HTTP/1.1 200 OK\r\nConnection: close\r\nX-Kind: close\r\n\r\nuntil the close");
      else
        socket.end(
          "HTTP/1.1 201 Made\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 7\r\nContent-Length: 99\r\n\r\n",
        );
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const c = new Client(relay.port());
    c.send(`GET /close HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`);
    const a = await c.reply();
    expect(a).toMatchObject({ status: 200, headers: { "transfer-encoding": "chunked", "x-kind": "close" } });
    expect(a.body.toString()).toBe("until the close");
    c.send(`GET /chunked HTTP/1.1\r\nHost: ${peer.host}\r\nTE: trailers\r\n\r\n`);
    const b = await c.reply();
    expect(b.status).toBe(201);
    expect(b.body.toString()).toBe("abc");
    // A framing field never travels as a trailer.
    expect(b.trailers).toEqual({ "x-sum": "7" });
    expect(await metric(relay, LANE)).toBe(2);
    c.socket.destroy();
  });

  it("writes no body for HEAD or 204, and carries on", async () => {
    const relay = await startStrictRelay();
    const local = await startLocalServer((req, res) => {
      if (req.url === "/none") {
        res.writeHead(204);
        return void res.end();
      }
      res.setHeader("Content-Length", "5");
      res.end(req.method === "HEAD" ? undefined : "hello");
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const c = new Client(relay.port());
    c.send(`HEAD /x HTTP/1.1\r\nHost: ${peer.host}\r\n\r\nGET /none HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`);
    const head = await c.reply(true);
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe("5");
    expect((await c.reply()).status).toBe(204);
    c.send(`GET /x HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`);
    expect((await c.reply()).body.toString()).toBe("hello");
    expect(await metric(relay, LANE)).toBe(3);
    c.socket.destroy();
  });

  it("hands the connection to Node's server at the first request it does not take, bytes and all", async () => {
    const { relay, peer } = await echoAgent();
    const c = new Client(relay.port());
    c.send(
      `GET /lane HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n` +
        `POST /node HTTP/1.1\r\nHost: ${peer.host}\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n` +
        `GET /after HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`,
    );
    const bodies = [await c.reply(), await c.reply(), await c.reply()].map((r) => r.body.toString());
    expect(bodies).toEqual([
      `GET /lane 0 ${sha16(Buffer.alloc(0))}`,
      `POST /node 4 ${sha16(Buffer.from("abcd"))}`,
      `GET /after 0 ${sha16(Buffer.alloc(0))}`,
    ]);
    // The connection stays with Node once it has it.
    expect(await metric(relay, LANE)).toBe(1);
    expect(await metric(relay, "agent_relay_streams_opened_total")).toBe(3);
    c.socket.destroy();
  });

  it("leaves the relay's own routes and an offline agent to Node", async () => {
    // (Heads split across reads go to Node too: test/relay/slowloris.test.ts.)
    const { relay } = await echoAgent();
    const d = new Client(relay.port());
    d.send(`GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expect((await d.reply()).status).toBe(200);
    const e = new Client(relay.port());
    e.send(`GET / HTTP/1.1\r\nHost: ${"ab".repeat(20)}.localhost\r\n\r\n`);
    const offline = await e.reply();
    expect(offline.status).toBe(502);
    expect(JSON.parse(offline.body.toString()).error).toBe("agent_offline");
    expect(await metric(relay, LANE)).toBe(0);
    for (const x of [d, e]) x.socket.destroy();
  });

  it("closes after Connection: close, and after an answer that came before the whole upload", async () => {
    const relay = await startStrictRelay();
    const local = await startLocalServer((req, res) => {
      if (req.url === "/early") {
        res.writeHead(413, { "Content-Length": "4", Connection: "close" });
        return void res.end("nope");
      }
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    // Half-open clients: the relay must close its side for good, not only send FIN.
    const a = new Client(relay.port(), true);
    a.send(`GET / HTTP/1.1\r\nHost: ${peer.host}\r\nConnection: close\r\n\r\n`);
    const first = await a.reply();
    expect(first.headers.connection).toBe("close");
    expect(await a.goneAfterFin()).toBe(true);
    const b = new Client(relay.port(), true);
    b.send(
      `POST /early HTTP/1.1\r\nHost: ${peer.host}\r\nContent-Length: 10000000\r\n\r\n${"z".repeat(1000)}`,
    );
    const early = await b.reply();
    expect(early.status).toBe(413);
    expect(early.body.toString()).toBe("nope");
    // The rest of the upload is never read, so the answer says so.
    expect(early.headers.connection).toBe("close");
    expect(await b.goneAfterFin()).toBe(true);
    expect(await metric(relay, LANE)).toBe(2);
  });

  it("resets the stream when the client leaves mid-answer: the local server sees its socket close", async () => {
    const relay = await startRelay();
    let localClosed = false;
    const local = await startLocalServer((_req, res) => {
      res.write("first part");
      res.on("close", () => {
        localClosed = true;
      });
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const c = new Client(relay.port());
    c.send(`GET /stream HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`);
    await new Promise<void>((resolve) => c.socket.once("data", () => resolve()));
    c.socket.destroy();
    expect(await eventually(2000, () => localClosed)).toBe(true);
    expect(await eventually(2000, () => relay.registry.streamCount() === 0)).toBe(true);
  });

  it("moves 32 MiB to a client that reads slowly, intact, with the connection kept", async () => {
    const relay = await startRelay();
    const blob = Buffer.alloc(32 * 1024 * 1024);
    for (let i = 0; i < blob.byteLength; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
    let pending: (() => number) | undefined;
    const local = await startLocalServer((_req, res) => {
      res.setHeader("Content-Length", blob.byteLength);
      res.end(blob);
      pending ??= () => res.writableLength;
    });
    const peer = await startPeer(relay, local.url, { probe: false });
    const c = new Client(relay.port());
    c.socket.pause();
    c.send(`GET /big HTTP/1.1\r\nHost: ${peer.host}\r\n\r\nGET /big HTTP/1.1\r\nHost: ${peer.host}\r\n\r\n`);
    // Every buffer on the way is full while the client reads nothing: what the local server still
    // holds stops shrinking, short of the whole answer.
    let last = -1;
    let still = 0;
    const full = await eventually(10_000, () => {
      const now = pending?.() ?? -1;
      still = now > 0 && now === last ? still + 1 : 0;
      last = now;
      return still >= 20;
    });
    expect(full).toBe(true);
    c.socket.resume();
    const first = await c.reply();
    expect(sha16(first.body)).toBe(sha16(blob));
    expect(sha16((await c.reply()).body)).toBe(sha16(blob));
    c.socket.destroy();
  });

  it("answers a refusal itself, as JSON with the request id, and closes", async () => {
    const { relay, peer } = await echoAgent({ maxBodyBytes: 10 });
    const c = new Client(relay.port(), true);
    c.send(`POST / HTTP/1.1\r\nHost: ${peer.host}\r\nContent-Length: 11\r\n\r\n`);
    const r = await c.reply();
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString()).error).toBe("body_too_large");
    expect(r.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(await c.goneAfterFin()).toBe(true);
    expect(await metric(relay, 'agent_relay_errors_total{code="body_too_large"}')).toBe(1);
    expect(await metric(relay, "agent_relay_streams_opened_total")).toBe(0);
  });
});
