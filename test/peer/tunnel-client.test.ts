import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { connectTunnel } from "../../src/peer/tunnel-client.ts";
import { encodeAuthOk, encodeChallenge } from "../../src/protocol/auth-codec.ts";
import { SUBPROTOCOL } from "../../src/protocol/constants.ts";
import { encodeHeader, Flag, FrameType } from "../../src/yamux/frame.ts";
import type { YamuxStream } from "../../src/yamux/stream.ts";

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
