/**
 * WebSocket passthrough to a real `ws` server behind the tunnel: HTTP/1.1 Upgrade (a raw byte pipe)
 * and RFC 8441 extended CONNECT over HTTP/2.
 */
import { createHash, randomBytes } from "node:crypto";
import { type ClientHttp2Session, connect } from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { cleanup, startLocalServer, startPeer } from "../helpers/harness.ts";
import { eventually, metric, startStrictRelay } from "./helpers.ts";

const closers: Array<() => void> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await cleanup();
});

/** A local HTTP server with a `ws` echo server on it; `server` sees every connection. */
async function echoBehindTunnel(relayConfig = {}) {
  const relay = await startStrictRelay(relayConfig);
  const local = await startLocalServer((_req, res) => res.end("plain"));
  const wss = new WebSocketServer({ server: local.server, maxPayload: 64 * 1024 * 1024 });
  closers.push(() => wss.close());
  wss.on("connection", (ws) => {
    ws.on("message", (data, isBinary) => {
      if (String(data) === "close-from-server") ws.close(4001, "server says bye");
      else ws.send(data, { binary: isBinary });
    });
  });
  const peer = await startPeer(relay, local.url, { probe: false });
  return { relay, wss, peer };
}

function open(port: number, host: string, path = "/echo"): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, {
      headers: { host },
      maxPayload: 64 * 1024 * 1024,
    });
    closers.push(() => ws.terminate());
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve) =>
    ws.once("message", (data, binary) => resolve({ data: data as Buffer, binary })),
  );
}

describe("WebSocket over HTTP/1.1", () => {
  it("echoes 10,000 messages in order", async () => {
    const { relay, peer } = await echoBehindTunnel();
    const ws = await open(relay.port(), peer.host);
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      ws.on("message", (d) => {
        got.push(String(d));
        if (got.length === 10_000) resolve();
      }),
    );
    for (let i = 0; i < 10_000; i++) ws.send(`message ${i}`);
    await all;
    expect(got).toEqual(Array.from({ length: 10_000 }, (_, i) => `message ${i}`));
  });

  it("carries binary frames and a 16 MiB message unchanged", async () => {
    const { relay, peer } = await echoBehindTunnel();
    const ws = await open(relay.port(), peer.host);
    const small = randomBytes(1000);
    ws.send(small);
    const back = await nextMessage(ws);
    expect(back.binary).toBe(true);
    expect(back.data.equals(small)).toBe(true);
    const big = randomBytes(16 * 1024 * 1024);
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    ws.send(big);
    const bigBack = await nextMessage(ws);
    expect(bigBack.data.byteLength).toBe(big.byteLength);
    expect(sha(bigBack.data)).toBe(sha(big));
  });

  it("passes a close from either end, with its code and reason", async () => {
    const { relay, wss, peer } = await echoBehindTunnel();
    const serverSaw = new Promise<[number, string]>((resolve) =>
      wss.once("connection", (s) => s.on("close", (code, reason) => resolve([code, String(reason)]))),
    );
    const a = await open(relay.port(), peer.host);
    a.close(4000, "client says bye");
    expect(await serverSaw).toEqual([4000, "client says bye"]);

    const b = await open(relay.port(), peer.host);
    const clientSaw = new Promise<[number, string]>((resolve) =>
      b.on("close", (code, reason) => resolve([code, String(reason)])),
    );
    b.send("close-from-server");
    expect(await clientSaw).toEqual([4001, "server says bye"]);
    expect(await eventually(2000, () => relay.registry.streamCount() === 0)).toBe(true);
  });

  it("holds 200 WebSockets open at once on one tunnel", async () => {
    const { relay, wss, peer } = await echoBehindTunnel();
    const sockets = await Promise.all(Array.from({ length: 200 }, () => open(relay.port(), peer.host)));
    expect(wss.clients.size).toBe(200);
    expect(relay.registry.streamCount()).toBe(200);
    const echoes = await Promise.all(
      sockets.map((ws, i) => {
        const m = nextMessage(ws);
        ws.send(`socket ${i}`);
        return m;
      }),
    );
    expect(echoes.map((e) => String(e.data))).toEqual(sockets.map((_, i) => `socket ${i}`));
    for (const ws of sockets) ws.close();
    expect(await eventually(5000, () => wss.clients.size === 0)).toBe(true);
    // Each upgrade is logged and counted once it ends, under its status (101).
    expect(
      await eventually(
        2000,
        async () => (await metric(relay, 'agent_relay_requests_total{class="1xx"}')) === 200,
      ),
    ).toBe(true);
  });

  it("tells the local server at once when the client drops the connection", async () => {
    const { relay, wss, peer } = await echoBehindTunnel();
    const closed = new Promise<number>((resolve) =>
      wss.once("connection", (s) => s.on("close", () => resolve(Date.now()))),
    );
    const ws = await open(relay.port(), peer.host);
    const dropped = Date.now();
    ws.terminate();
    expect((await closed) - dropped).toBeLessThan(1000);
  });
});

// --- a minimal WebSocket client over an HTTP/2 stream (RFC 8441 has no handshake keys) ---

function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.byteLength;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), bigLength(len)]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.byteLength; i++) body[i]! ^= mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

function bigLength(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Parses unmasked server frames out of `buf`; returns the frames and what is left over. */
function parseFrames(buf: Buffer): { frames: Array<{ opcode: number; payload: Buffer }>; rest: Buffer } {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let off = 0;
  while (buf.byteLength - off >= 2) {
    const opcode = buf[off]! & 0x0f;
    let len = buf[off + 1]! & 0x7f;
    let at = off + 2;
    if (len === 126) {
      if (buf.byteLength < at + 2) break;
      len = buf.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      if (buf.byteLength < at + 8) break;
      len = Number(buf.readBigUInt64BE(at));
      at += 8;
    }
    if (buf.byteLength < at + len) break;
    frames.push({ opcode, payload: buf.subarray(at, at + len) });
    off = at + len;
  }
  return { frames, rest: buf.subarray(off) };
}

describe("WebSocket over HTTP/2 (RFC 8441)", () => {
  it("maps an extended CONNECT onto one stream: echo, binary, and a clean close", async () => {
    const { relay, wss, peer } = await echoBehindTunnel();
    const session: ClientHttp2Session = connect(`http://127.0.0.1:${relay.port()}`);
    closers.push(() => session.destroy());
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    expect(session.remoteSettings.enableConnectProtocol).toBe(true);
    const stream = session.request(
      {
        ":method": "CONNECT",
        ":protocol": "websocket",
        ":scheme": "http",
        ":path": "/echo",
        ":authority": peer.host,
        "sec-websocket-version": "13",
      },
      { endStream: false },
    );
    const status = await new Promise<number>((resolve) =>
      stream.once("response", (h) => resolve(Number(h[":status"]))),
    );
    expect(status).toBe(200);
    expect(wss.clients.size).toBe(1);

    let buf: Buffer = Buffer.alloc(0);
    const received: Array<{ opcode: number; payload: Buffer }> = [];
    stream.on("data", (c: Buffer) => {
      const parsed = parseFrames(Buffer.concat([buf, c]));
      received.push(...parsed.frames);
      buf = parsed.rest;
    });
    stream.write(frame(0x1, Buffer.from("hello over h2")));
    const bin = randomBytes(70_000);
    stream.write(frame(0x2, bin));
    expect(await eventually(5000, () => received.length === 2)).toBe(true);
    expect(received[0]).toMatchObject({ opcode: 0x1 });
    expect(received[0]!.payload.toString()).toBe("hello over h2");
    expect(received[1]!.opcode).toBe(0x2);
    expect(received[1]!.payload.equals(bin)).toBe(true);

    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000);
    stream.write(frame(0x8, code));
    expect(await eventually(5000, () => received.length === 3)).toBe(true);
    expect(received[2]!.opcode).toBe(0x8);
    expect(received[2]!.payload.readUInt16BE(0)).toBe(1000);
    expect(await eventually(5000, () => wss.clients.size === 0)).toBe(true);
  });
});
