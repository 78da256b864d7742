import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { connectTunnel, maskingNeeded } from "../../src/peer/tunnel-client.ts";
import { encodeAuthOk, encodeChallenge } from "../../src/protocol/auth-codec.ts";
import { SUBPROTOCOL } from "../../src/protocol/constants.ts";
import { encodeHeader, Flag, FrameType } from "../../src/yamux/frame.ts";
import type { YamuxStream } from "../../src/yamux/stream.ts";
import { countWrites, wsSocket } from "../helpers/socket-writes.ts";

let server: WebSocketServer | undefined;
afterEach(() => server?.close());

it("keeps the yamux frames a relay sends in the same read as AUTH_OK", async () => {
  // A relay that opens a stream and sends data right behind AUTH_OK, before the peer can react.
  server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => SUBPROTOCOL });
  await new Promise((r) => server!.once("listening", r));
  const port = (server.address() as AddressInfo).port;
  server.on("connection", (ws) => {
    ws.send(encodeChallenge({ version: 1, nonce: randomBytes(32), relayTimeMs: Date.now() }));
    ws.once("message", () => {
      const ok = encodeAuthOk({
        publicUrl: "http://x.localhost",
        maxStreams: 10,
        keepAliveMs: 15_000,
        maxMessageBytes: 1 << 20,
      });
      const syn = encodeHeader(FrameType.WindowUpdate, Flag.SYN, 1, 0);
      const body = Buffer.from("GET / HTTP/1.1\r\n\r\n");
      const data = Buffer.concat([encodeHeader(FrameType.Data, 0, 1, body.byteLength), body]);
      // Back to back, in the same turn: the peer reads AUTH_OK and the frames in one go.
      ws.send(ok, { binary: true });
      ws.send(Buffer.concat([syn, data]), { binary: true });
    });
  });
  const t = await connectTunnel({
    relayUrl: `ws://127.0.0.1:${port}`,
    identity: AgentIdentity.generate(),
    secureChannel: "never",
  });
  const got = new Promise<string>((resolve) =>
    t.session.on("stream", (s: YamuxStream) => {
      // (the socket closes under it at the end)
      s.attach({ data: (c) => resolve(c.toString()), end() {}, drain() {}, close() {} });
    }),
  );
  t.start();
  expect(await got).toBe("GET / HTTP/1.1\r\n\r\n");
  t.ws.close();
});

/** The masking keys of the client frames in `bytes` (RFC 6455 section 5.2); undefined for an unmasked frame. */
function maskingKeys(bytes: Buffer): Array<string | undefined> {
  const keys: Array<string | undefined> = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const masked = (bytes[at + 1]! & 0x80) !== 0;
    let len = bytes[at + 1]! & 0x7f;
    let head = 2;
    if (len === 126) {
      len = bytes.readUInt16BE(at + 2);
      head = 4;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(at + 2));
      head = 10;
    }
    keys.push(masked ? bytes.subarray(at + head, at + head + 4).toString("hex") : undefined);
    at += head + (masked ? 4 : 0) + len;
  }
  return keys;
}

it("masks with an all-zero key when the relay is a loopback address, and says when a key must be random", async () => {
  server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => SUBPROTOCOL });
  await new Promise((r) => server!.once("listening", r));
  const port = (server.address() as AddressInfo).port;
  const wire: Buffer[] = [];
  let auth: Buffer | undefined;
  server.on("connection", (ws, req) => {
    // Everything the peer sends after the upgrade: it speaks only once the challenge has arrived.
    req.socket.on("data", (c: Buffer) => wire.push(c));
    ws.send(encodeChallenge({ version: 1, nonce: randomBytes(32), relayTimeMs: Date.now() }));
    ws.once("message", (m: Buffer) => {
      auth = m;
      ws.send(
        encodeAuthOk({
          publicUrl: "http://x.localhost",
          maxStreams: 10,
          keepAliveMs: 15_000,
          maxMessageBytes: 1 << 20,
        }),
        { binary: true },
      );
    });
  });
  const t = await connectTunnel({
    relayUrl: `ws://127.0.0.1:${port}`,
    identity: AgentIdentity.generate(),
    secureChannel: "never",
  });
  t.ws.close();
  await new Promise((r) => t.ws.once("close", r));
  // The relay side read the AUTH message intact (type 0x02 first): a zero key is a key like any other.
  expect(auth?.[0]).toBe(0x02);
  const keys = maskingKeys(Buffer.concat(wire));
  expect(keys.length).toBeGreaterThanOrEqual(2); // AUTH and the close frame
  expect(new Set(keys)).toEqual(new Set(["00000000"]));

  expect(maskingNeeded(new URL("ws://127.0.0.1:8080/v1/tunnel"), false)).toBe(false);
  expect(maskingNeeded(new URL("ws://127.9.0.1/v1/tunnel"), false)).toBe(false);
  expect(maskingNeeded(new URL("ws://[::1]:8080/v1/tunnel"), false)).toBe(false);
  expect(maskingNeeded(new URL("ws://127.1:8080/"), false)).toBe(false); // the parser makes it 127.0.0.1
  expect(maskingNeeded(new URL("wss://127.0.0.1:8443/"), false)).toBe(false);
  expect(maskingNeeded(new URL("ws://relay.example/v1/tunnel"), true)).toBe(false);
  // A name is not trusted to be loopback; TLS still has terminating proxies that read the frames.
  for (const u of [
    "ws://relay.example/",
    "ws://localhost:8080/",
    "ws://10.0.0.1/",
    "wss://relay.example/",
    "ws://[::2]/",
    "ws://[::ffff:127.0.0.1]/",
    "ws://0.0.0.0/",
  ])
    expect(maskingNeeded(new URL(u), false), u).toBe(true);
});

it("writes a flush of several messages in one socket write: a SYN's answer, a handed-over piece and a FIN", async () => {
  server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => SUBPROTOCOL });
  await new Promise((r) => server!.once("listening", r));
  const port = (server.address() as AddressInfo).port;
  const payload = randomBytes(192 * 1024);
  let opened: (() => void) | undefined;
  const got = new Promise<Buffer>((resolve) => {
    server!.on("connection", (ws, req) => {
      const chunks: Buffer[] = [];
      let auth = true;
      ws.send(encodeChallenge({ version: 1, nonce: randomBytes(32), relayTimeMs: Date.now() }));
      ws.on("message", (m: Buffer) => {
        if (auth) {
          auth = false;
          ws.send(
            encodeAuthOk({
              publicUrl: "http://x.localhost",
              maxStreams: 10,
              keepAliveMs: 15_000,
              maxMessageBytes: 1 << 20,
            }),
            { binary: true },
          );
          opened = () => ws.send(encodeHeader(FrameType.WindowUpdate, Flag.SYN, 1, 0), { binary: true });
          return;
        }
        chunks.push(m);
        // Everything after the peer's ACK: the data frame's payload, then a FIN (12-byte headers).
        const all = Buffer.concat(chunks);
        if (all.length >= 12 + 12 + payload.length + 12) resolve(all);
      });
      req.socket.on("error", () => {});
    });
  });
  const t = await connectTunnel({
    relayUrl: `ws://127.0.0.1:${port}`,
    identity: AgentIdentity.generate(),
    secureChannel: "never",
    yamux: { keepAliveIntervalMs: 0 },
  });
  const writes = countWrites(wsSocket(t.ws));
  t.session.on("stream", (s: YamuxStream) => {
    s.attach({ data() {}, end() {}, drain() {}, close() {} });
    s.write(payload); // owned: it leaves as a message of its own
    s.end();
  });
  t.start();
  opened!();
  const all = await got;
  expect(all.subarray(24, 24 + payload.length).equals(payload)).toBe(true);
  expect(writes.n).toBe(1);
  t.ws.close();
});
