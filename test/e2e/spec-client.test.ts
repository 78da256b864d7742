/**
 * A tunnel peer written only from spec/PROTOCOL.md: raw `ws`, viem for signing, node:crypto for the
 * Noise secure channel, and a small yamux frame reader and writer in this file. It imports nothing
 * from src/peer, src/transport or src/yamux, so it checks that the document is enough to
 * interoperate with the real relay, plain and inside the secure channel.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { request } from "node:http";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { cleanup, fetchVia, startRelay } from "../helpers/harness.ts";

afterEach(cleanup);

// --- Constants from the spec ----------------------------------------------------------------

const SUBPROTOCOL = "agent-relay.v1";
const SUBPROTOCOL_NOISE = "agent-relay.v1+noise";
const TUNNEL_PATH = "/v1/tunnel";
const DATA = 0;
const WINDOW_UPDATE = 1;
const PING = 2;
const GO_AWAY = 3;
const SYN = 1;
const ACK = 2;
const FIN = 4;
const RST = 8;

// --- yamux frames ---------------------------------------------------------------------------

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  /** Payload length for data frames, window delta, ping value or GoAway code otherwise. */
  length: number;
  payload: Buffer;
}

function frame(type: number, flags: number, streamId: number, length: number, payload?: Buffer): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0;
  h[1] = type;
  h.writeUInt16BE(flags, 2);
  h.writeUInt32BE(streamId, 4);
  h.writeUInt32BE(length, 8);
  return payload ? Buffer.concat([h, payload]) : h;
}

/** Parses the byte stream formed by all binary messages; message boundaries carry no meaning. */
class FrameReader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): Frame[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.byteLength >= 12) {
      if (this.buf[0] !== 0) throw new Error(`yamux version ${this.buf[0]}`);
      const type = this.buf[1]!;
      const length = this.buf.readUInt32BE(8);
      const bodyLength = type === DATA ? length : 0;
      if (this.buf.byteLength < 12 + bodyLength) break;
      out.push({
        type,
        flags: this.buf.readUInt16BE(2),
        streamId: this.buf.readUInt32BE(4),
        length,
        payload: this.buf.subarray(12, 12 + bodyLength),
      });
      this.buf = this.buf.subarray(12 + bodyLength);
    }
    return out;
  }
}

// --- The secure channel (Noise XX, spec "Secure channel") --------------------------------------

/** How the peer sends and receives authentication and yamux bytes: as they are, or encrypted. */
interface Channel {
  send(data: Buffer): void;
  /** Turns one received WebSocket message into plaintext (throws if it does not authenticate). */
  open(data: Buffer): Buffer;
  /** The handshake hash, for the Channel line; undefined on a plain connection. */
  binding?: Buffer;
}

const plainChannel = (ws: WebSocket): Channel => ({ send: (d) => ws.send(d), open: (d) => d });

const sha256 = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash("sha256")).digest();
const hmac = (key: Buffer, ...parts: Buffer[]) =>
  parts.reduce((h, p) => h.update(p), createHmac("sha256", key)).digest();

function hkdf(ck: Buffer, ikm: Buffer): [Buffer, Buffer] {
  const t = hmac(ck, ikm);
  const a = hmac(t, Buffer.from([1]));
  return [a, hmac(t, a, Buffer.from([2]))];
}

function nonce(n: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigUInt64LE(BigInt(n), 4);
  return b;
}

function seal(k: Buffer, n: number, ad: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv("chacha20-poly1305", k, nonce(n), { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: plain.byteLength });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function unseal(k: Buffer, n: number, ad: Buffer, sealed: Buffer): Buffer {
  const d = createDecipheriv("chacha20-poly1305", k, nonce(n), { authTagLength: 16 });
  d.setAAD(ad, { plaintextLength: sealed.byteLength - 16 });
  d.setAuthTag(sealed.subarray(sealed.byteLength - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.byteLength - 16)), d.final()]);
}

function x25519(): { priv: KeyObject; pub: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return { priv: privateKey, pub: publicKey.export({ format: "der", type: "spki" }).subarray(12) };
}

function dh(priv: KeyObject, pub: Buffer): Buffer {
  const spki = Buffer.concat([Buffer.from("302a300506032b656e032100", "hex"), pub]);
  return diffieHellman({
    privateKey: priv,
    publicKey: createPublicKey({ key: spki, format: "der", type: "spki" }),
  });
}

/**
 * The initiator's side of Noise_XX_25519_ChaChaPoly_SHA256 with the prologue "agent-relay.v1+noise"
 * and empty payloads. `first` resolves with the relay's message 2; returns the channel.
 */
async function noiseChannel(ws: WebSocket, first: Promise<Buffer>): Promise<Channel> {
  const empty = Buffer.alloc(0);
  let h: Buffer = Buffer.from("Noise_XX_25519_ChaChaPoly_SHA256");
  let ck: Buffer = h;
  let k: Buffer | undefined;
  let n = 0;
  const mixHash = (d: Buffer) => {
    h = sha256(h, d);
  };
  const mixKey = (ikm: Buffer) => {
    [ck, k] = hkdf(ck, ikm);
    n = 0;
  };
  const encryptAndHash = (p: Buffer) => {
    const c = k ? seal(k, n++, h, p) : p;
    mixHash(c);
    return c;
  };
  const decryptAndHash = (c: Buffer) => {
    const p = k ? unseal(k, n++, h, c) : c;
    mixHash(c);
    return p;
  };
  const s = x25519();
  const e = x25519();
  mixHash(Buffer.from(SUBPROTOCOL_NOISE));
  // -> e
  mixHash(e.pub);
  ws.send(Buffer.concat([e.pub, encryptAndHash(empty)]));
  // <- e, ee, s, es
  const m2 = await first;
  expect(m2.byteLength).toBe(96);
  const re = m2.subarray(0, 32);
  mixHash(re);
  mixKey(dh(e.priv, re));
  const rs = decryptAndHash(m2.subarray(32, 80));
  mixKey(dh(e.priv, rs));
  expect(decryptAndHash(m2.subarray(80)).byteLength).toBe(0);
  // -> s, se
  const sealedS = encryptAndHash(s.pub);
  mixKey(dh(s.priv, re));
  ws.send(Buffer.concat([sealedS, encryptAndHash(empty)]));
  const [k1, k2] = hkdf(ck, empty);
  let sent = 0;
  let received = 0;
  return {
    binding: h,
    send: (d) => ws.send(seal(k1, sent++, empty, d)),
    open: (d) => unseal(k2, received++, empty, d),
  };
}

// --- The peer -------------------------------------------------------------------------------

interface Closed {
  code: number;
  reason: string;
}

interface SpecPeer {
  ws: WebSocket;
  channel: Channel;
  /** 40 lowercase hex digits: the host label. */
  label: string;
  publicUrl: string;
  limits: { maxStreams: number; keepAliveMs: number; maxMessageBytes: number };
  next(pred: (f: Frame) => boolean): Promise<Frame>;
  send(...frames: Buffer[]): void;
  closed: Promise<Closed>;
}

interface DialOptions {
  privateKey?: `0x${string}`;
  origin?: string;
  sendPublicKey?: boolean;
  /** Run inside the Noise secure channel (subprotocol agent-relay.v1+noise). */
  noise?: boolean;
  /** Leave the Channel line out of the signed text even inside the secure channel. */
  omitChannelLine?: boolean;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function open(port: number, protocols: string[] = [SUBPROTOCOL]): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${port}${TUNNEL_PATH}`, protocols, { perMessageDeflate: false });
}

function closedOf(ws: WebSocket): Promise<Closed> {
  return new Promise((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

/** Dials, answers the challenge and resolves once AUTH_OK arrives (or rejects with the close). */
function dial(port: number, opts: DialOptions = {}): Promise<SpecPeer> {
  const account = privateKeyToAccount(opts.privateKey ?? generatePrivateKey());
  const origin = opts.origin ?? `ws://127.0.0.1:${port}`;
  const ws = open(port, [opts.noise ? SUBPROTOCOL_NOISE : SUBPROTOCOL]);
  const closed = closedOf(ws);
  let channel: Channel | undefined = opts.noise ? undefined : plainChannel(ws);
  let handshakeReply: (m: Buffer) => void = () => {};
  if (opts.noise) {
    const reply = new Promise<Buffer>((r) => {
      handshakeReply = r;
    });
    ws.once("open", () => {
      expect(ws.protocol).toBe(SUBPROTOCOL_NOISE);
      noiseChannel(ws, reply).then(
        (c) => {
          channel = c;
        },
        () => ws.terminate(),
      );
    });
  }
  const reader = new FrameReader();
  const frames: Frame[] = [];
  const waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  const deliver = (f: Frame) => {
    // Answer pings at once, as the spec requires.
    if (f.type === PING && f.flags & SYN) channel!.send(frame(PING, ACK, 0, f.length));
    const i = waiters.findIndex((w) => w.pred(f));
    if (i === -1) frames.push(f);
    else waiters.splice(i, 1)[0]!.resolve(f);
  };
  return new Promise((resolve, reject) => {
    let stage: "challenge" | "auth-ok" | "yamux" = "challenge";
    closed.then((c) => {
      if (stage !== "yamux") reject(Object.assign(new Error(`closed ${c.code} ${c.reason}`), c));
    });
    ws.on("message", async (raw: Buffer, isBinary) => {
      expect(isBinary).toBe(true);
      if (!channel) return handshakeReply(raw);
      const ch = channel;
      const data = ch.open(raw);
      if (stage === "yamux") {
        for (const f of reader.push(data)) deliver(f);
        return;
      }
      if (stage === "challenge") {
        stage = "auth-ok";
        expect(data.byteLength).toBe(42);
        expect(data[0]).toBe(0x01);
        expect(data[1]).toBe(1);
        const nonce = data.subarray(2, 34);
        const relayTimeMs = Number(data.readBigUInt64BE(34));
        expect(Math.abs(relayTimeMs - Date.now())).toBeLessThan(60_000);
        const timestamp = Math.floor(Date.now() / 1000);
        const message = [
          "Agent Relay tunnel login",
          "Version: 1",
          `Origin: ${origin}`,
          `Address: ${account.address}`,
          `Nonce: 0x${nonce.toString("hex")}`,
          `Timestamp: ${timestamp}`,
          ...(ch.binding && !opts.omitChannelLine ? [`Channel: 0x${ch.binding.toString("hex")}`] : []),
        ].join("\n");
        const signature = Buffer.from((await account.signMessage({ message })).slice(2), "hex");
        const withKey = opts.sendPublicKey ?? true;
        const originBytes = Buffer.from(origin, "utf8");
        ch.send(
          Buffer.concat([
            Buffer.from([0x02, withKey ? 0x01 : 0x00]),
            Buffer.from(account.address.slice(2), "hex"),
            nonce,
            u64(timestamp),
            signature,
            withKey ? Buffer.from(account.publicKey.slice(2), "hex") : Buffer.alloc(0),
            u16(originBytes.byteLength),
            originBytes,
          ]),
        );
        return;
      }
      stage = "yamux";
      expect(data[0]).toBe(0x03);
      const urlLength = data.readUInt16BE(13);
      expect(data.byteLength).toBe(15 + urlLength);
      resolve({
        ws,
        channel: ch,
        label: account.address.slice(2).toLowerCase(),
        publicUrl: data.subarray(15).toString("utf8"),
        limits: {
          maxStreams: data.readUInt32BE(1),
          keepAliveMs: data.readUInt32BE(5),
          maxMessageBytes: data.readUInt32BE(9),
        },
        closed,
        send: (...fs) => ch.send(Buffer.concat(fs)),
        next: (pred) => {
          const i = frames.findIndex(pred);
          if (i !== -1) return Promise.resolve(frames.splice(i, 1)[0]!);
          return new Promise((res) => waiters.push({ pred, resolve: res }));
        },
      });
    });
  });
}

/** Reads one stream's bytes until FIN (or RST), answering nothing. */
async function readUntil(peer: SpecPeer, id: number, done: (bytes: Buffer) => boolean): Promise<Buffer> {
  let got = Buffer.alloc(0);
  while (!done(got)) {
    const f = await peer.next((x) => x.streamId === id);
    if (f.type === DATA) got = Buffer.concat([got, f.payload]);
    if (f.flags & (FIN | RST)) break;
  }
  return got;
}

function headersOf(head: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of head.split("\r\n").slice(1)) {
    if (!line) continue;
    const i = line.indexOf(":");
    const name = line.slice(0, i).toLowerCase();
    out.set(name, [...(out.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  return out;
}

// --- Tests ----------------------------------------------------------------------------------

describe("a peer written from the spec alone", () => {
  it("authenticates, accepts the relay's stream and answers one public HTTP request", async () => {
    const relay = await startRelay();
    const port = relay.port();
    const peer = await dial(port);
    expect(peer.publicUrl).toBe(`http://${peer.label}.localhost:${port}`);
    expect(peer.limits).toEqual({ maxStreams: 4096, keepAliveMs: 15_000, maxMessageBytes: 1024 * 1024 });

    const host = `${peer.label}.localhost:${port}`;
    const answer = fetchVia(port, host, "/hello?x=1", {
      method: "POST",
      body: "ping?",
      headers: {
        "x-agent-id": "spoofed",
        "x-forwarded-for": "6.6.6.6",
        "keep-alive": "timeout=5",
        "content-type": "text/plain",
      },
    });

    // The relay opens an odd stream with SYN and grows our send window to 1 MiB.
    const syn = await peer.next((f) => !!(f.flags & SYN));
    expect(syn.type).toBe(WINDOW_UPDATE);
    expect(syn.streamId % 2).toBe(1);
    expect(syn.length).toBe(768 * 1024);
    peer.send(frame(WINDOW_UPDATE, ACK, syn.streamId, 0));

    // Exactly one HTTP/1.1 request, as bytes with no prefix.
    const raw = await readUntil(peer, syn.streamId, (b) => {
      const at = b.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(b.toString("latin1"))?.[1];
      return at !== -1 && length !== undefined && b.byteLength >= at + 4 + Number(length);
    });
    const text = raw.toString("latin1");
    const headEnd = text.indexOf("\r\n\r\n");
    const head = text.slice(0, headEnd);
    expect(head.split("\r\n")[0]).toBe("POST /hello?x=1 HTTP/1.1");
    const h = headersOf(head);
    expect(h.get("host")).toEqual([host]);
    expect(h.get("x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(h.get("x-forwarded-proto")).toEqual(["http"]);
    expect(h.get("x-forwarded-host")).toEqual([host]);
    expect(h.get("x-request-id")?.[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.has("keep-alive")).toBe(false);
    // The relay passes identity headers through untouched: replacing them is the peer's job.
    expect(h.get("x-agent-id")).toEqual(["spoofed"]);
    expect(text.slice(headEnd + 4)).toBe("ping?");

    const body = `you sent ${text.slice(headEnd + 4)}`;
    const response = Buffer.from(
      `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
        `X-From: spec-peer\r\nConnection: close\r\n\r\n${body}`,
    );
    peer.send(frame(DATA, 0, syn.streamId, response.byteLength, response));

    const got = await answer;
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe("you sent ping?");
    expect(got.headers["x-from"]).toBe("spec-peer");
    expect(got.headers["x-request-id"]).toBe(h.get("x-request-id")?.[0]);

    // With the response complete, the relay ends its direction; our FIN then closes the stream.
    const fin = await peer.next((f) => f.streamId === syn.streamId);
    expect([fin.type, fin.flags, fin.length]).toEqual([WINDOW_UPDATE, FIN, 0]);
    peer.send(frame(WINDOW_UPDATE, FIN, syn.streamId, 0), frame(PING, SYN, 0, 7));
    await peer.next((f) => f.type === PING && f.length === 7);
    expect(relay.registry.streamCount()).toBe(0);
    peer.ws.close(1000);
  });

  it("logs in without the public key too (the relay recovers it)", async () => {
    const relay = await startRelay();
    const peer = await dial(relay.port(), { sendPublicKey: false });
    expect(peer.publicUrl).toContain(peer.label);
    peer.ws.close(1000);
  });

  it("gets RST for a stream it tries to open, and a ping answer with the same value", async () => {
    const relay = await startRelay();
    const peer = await dial(relay.port());
    peer.send(frame(WINDOW_UPDATE, SYN, 2, 0), frame(PING, SYN, 0, 0xdeadbeef));
    const rst = await peer.next((f) => f.streamId === 2);
    expect([rst.type, rst.flags, rst.length]).toEqual([WINDOW_UPDATE, RST, 0]);
    const pong = await peer.next((f) => f.type === PING);
    expect([pong.flags, pong.streamId, pong.length]).toEqual([ACK, 0, 0xdeadbeef]);
    peer.ws.close(1000);
  });

  it("a newer tunnel for the same key wins: the old one gets GoAway 4, then close 4100", async () => {
    const relay = await startRelay();
    const privateKey = generatePrivateKey();
    const first = await dial(relay.port(), { privateKey });
    const second = await dial(relay.port(), { privateKey });
    const goAway = await first.next((f) => f.type === GO_AWAY);
    expect(goAway.length).toBe(4);
    expect(await first.closed).toMatchObject({ code: 4100, reason: "superseded" });
    expect(second.ws.readyState).toBe(WebSocket.OPEN);
    second.ws.close(1000);
  });

  it("a relay shutting down sends GoAway 3, then close 1012", async () => {
    const relay = await startRelay();
    const peer = await dial(relay.port());
    let goAway: number | undefined;
    void peer.next((f) => f.type === GO_AWAY).then((f) => (goAway = f.length));
    await relay.close();
    // `ws` delivers every message before its close event, so the Go Away is in by then.
    const closed = await peer.closed;
    expect(goAway).toBe(3);
    expect(closed).toMatchObject({ code: 1012, reason: "restarting" });
  });
});

describe("a peer written from the spec alone, inside the Noise secure channel", () => {
  it("runs the handshake, logs in bound to the channel and answers one public HTTP request", async () => {
    const relay = await startRelay();
    const port = relay.port();
    for (const sendPublicKey of [true, false]) {
      const peer = await dial(port, { noise: true, sendPublicKey });
      expect(peer.channel.binding?.byteLength).toBe(32);
      expect(peer.publicUrl).toBe(`http://${peer.label}.localhost:${port}`);
      const host = `${peer.label}.localhost:${port}`;
      const answer = fetchVia(port, host, "/secure");
      const syn = await peer.next((f) => !!(f.flags & SYN));
      peer.send(frame(WINDOW_UPDATE, ACK, syn.streamId, 0));
      const raw = await readUntil(peer, syn.streamId, (b) => b.includes("\r\n\r\n"));
      expect(raw.toString("latin1").split("\r\n")[0]).toBe("GET /secure HTTP/1.1");
      const response = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsealed");
      peer.send(frame(DATA, FIN, syn.streamId, response.byteLength, response));
      const got = await answer;
      expect([got.status, got.body.toString()]).toEqual([200, "sealed"]);
      peer.ws.close(1000);
    }
  });

  it("4002 for a login without the Channel line inside the channel", async () => {
    const relay = await startRelay();
    const err = (await dial(relay.port(), { noise: true, omitChannelLine: true }).catch(
      (e: Closed) => e,
    )) as Closed;
    expect(err.code).toBe(4002);
    expect(err.reason).toMatch(/^bad_signature: /);
  });

  it("4105 for a transport message that does not authenticate", async () => {
    const relay = await startRelay();
    const peer = await dial(relay.port(), { noise: true });
    // A well-formed ping sealed under the wrong counter: the relay expects n = 1 after AUTH.
    peer.ws.send(Buffer.alloc(12 + 16, 7));
    const closed = await peer.closed;
    expect(closed.code).toBe(4105);
    expect(closed.reason).toMatch(/^secure_channel_error: /);
  });
});

describe("the relay's refusals, as the spec lists them", () => {
  it("426 unsupported_protocol without the subprotocol", async () => {
    const relay = await startRelay();
    const status = await new Promise<{ status: number; body: string; offered?: string }>((resolve) => {
      const req = request({
        host: "127.0.0.1",
        port: relay.port(),
        path: TUNNEL_PATH,
        headers: {
          Connection: "Upgrade",
          Upgrade: "websocket",
          "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Protocol": "agent-relay.v2",
        },
      });
      req.on("response", (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            offered: res.headers["sec-websocket-protocol"] as string,
          }),
        );
      });
      req.end();
    });
    expect(status).toMatchObject({ status: 426, body: '{"error":"unsupported_protocol"}' });
    // The relay lists every subprotocol it speaks, comma-separated.
    expect(status.offered?.split(",").map((p) => p.trim())).toEqual([SUBPROTOCOL_NOISE, SUBPROTOCOL]);
  });

  it("1003 for a text message", async () => {
    const relay = await startRelay();
    const ws = open(relay.port());
    const closed = closedOf(ws);
    ws.once("message", () => ws.send("hello"));
    expect((await closed).code).toBe(1003);
  });

  it("1009 for a message over 1 MiB", async () => {
    const relay = await startRelay();
    const peer = await dial(relay.port());
    peer.ws.send(Buffer.alloc(1024 * 1024 + 1));
    expect((await peer.closed).code).toBe(1009);
  });

  it("4005 wrong_origin, with a printable reason even for a hostile origin; the relay lives on", async () => {
    const relay = await startRelay();
    for (const origin of ["ws://other.example:1", "é".repeat(127)]) {
      const err = (await dial(relay.port(), { origin }).catch((e: Closed) => e)) as Closed;
      expect(err.code).toBe(4005);
      expect(err.reason).toMatch(/^wrong_origin: [\x20-\x7e]+$/);
    }
    const health = await fetchVia(relay.port(), `localhost:${relay.port()}`, "/health");
    expect(health.status).toBe(200);
  });

  it("4001 auth_timeout when no AUTH arrives in time", async () => {
    const relay = await startRelay({ authTimeoutMs: 200 });
    const ws = open(relay.port());
    const closed = await closedOf(ws);
    expect(closed.code).toBe(4001);
    expect(closed.reason).toMatch(/^auth_timeout: /);
  });
});
