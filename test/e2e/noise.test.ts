import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { connectTunnel } from "../../src/peer/tunnel-client.ts";
import { decodeChallenge, encodeAuth } from "../../src/protocol/auth-codec.ts";
import { buildAuthMessage } from "../../src/protocol/auth-message.ts";
import { SUBPROTOCOL_NOISE, TUNNEL_PATH } from "../../src/protocol/constants.ts";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { type Link, noiseLink } from "../../src/transport/link.ts";
import type { YamuxStream } from "../../src/yamux/stream.ts";
import { cleanup, fetchVia, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";
import { countWrites, wsSocket } from "../helpers/socket-writes.ts";

afterEach(cleanup);

async function noiseTo(port: number): Promise<{ ws: WebSocket; link: Link; nonce: Promise<Uint8Array> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${TUNNEL_PATH}`, [SUBPROTOCOL_NOISE]);
  await new Promise((r) => ws.once("open", r));
  const link = await noiseLink(ws, true);
  const nonce = new Promise<Uint8Array>((resolve) =>
    link.onMessage((b) => resolve(decodeChallenge(b).nonce)),
  );
  return { ws, link, nonce };
}

describe("the Noise secure channel", () => {
  it("is on by default for ws:// and carries requests, including 16 MiB both ways", async () => {
    const relay = await startRelay();
    const blob = randomBytes(16 * 1024 * 1024);
    const local = await startLocalServer((req, res) => {
      if (req.method === "GET") return res.end(blob);
      const h = createHash("sha256");
      req.on("data", (c: Buffer) => h.update(c));
      req.on("end", () => res.end(h.digest("hex")));
    });
    const direct = await connectTunnel({ relayUrl: relay.origin, identity: AgentIdentity.generate() });
    expect(direct.secure).toBe(true);
    direct.ws.close();
    const peer = await startPeer(relay, local.url);
    const down = await fetchVia(relay.port(), peer.host, "/");
    expect(down.body.equals(blob)).toBe(true);
    const up = await fetchVia(relay.port(), peer.host, "/", { method: "POST", body: blob });
    expect(up.body.toString()).toBe(createHash("sha256").update(blob).digest("hex"));
  });

  it("can be turned off, and then runs plain", async () => {
    const relay = await startRelay();
    const t = await connectTunnel({
      relayUrl: relay.origin,
      identity: AgentIdentity.generate(),
      secureChannel: "never",
    });
    expect(t.secure).toBe(false);
    expect(t.ws.protocol).toBe("agent-relay.v1");
    t.ws.close();
  });

  it("binds the login to its channel: a signature made on one channel fails on another", async () => {
    const relay = await startRelay();
    const me = AgentIdentity.generate();
    const origin = `ws://127.0.0.1:${relay.port()}`;
    const a = await noiseTo(relay.port());
    const b = await noiseTo(relay.port());
    const nonceB = await b.nonce;
    await a.nonce;
    const timestamp = Math.floor(Date.now() / 1000);
    // Signed with channel A's handshake hash, but for B's nonce, sent on B.
    const message = buildAuthMessage({
      origin,
      address: me.address,
      nonce: nonceB,
      timestamp,
      channelBinding: a.link.channelBinding,
    });
    const closed = new Promise<number>((r) => b.ws.once("close", (code) => r(code)));
    b.link.send(
      encodeAuth({
        address: me.address,
        nonce: nonceB,
        timestamp,
        signature: me.signMessage(message),
        origin,
        publicKey: me.publicKey,
      }),
    );
    expect(await closed).toBe(CLOSE_CODES.bad_signature);
    a.ws.close();
  });

  it("closes with secure_channel_error on a garbled handshake", async () => {
    const relay = await startRelay();
    const ws = new WebSocket(`ws://127.0.0.1:${relay.port()}${TUNNEL_PATH}`, [SUBPROTOCOL_NOISE]);
    await new Promise((r) => ws.once("open", r));
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.send(randomBytes(10)); // shorter than an ephemeral key
    expect(await closed).toBe(CLOSE_CODES.secure_channel_error);
  });

  it("writes a flush of several encrypted messages in one socket write, on the peer and on the relay", async () => {
    const relay = await startRelay();
    const t = await connectTunnel({ relayUrl: relay.origin, identity: AgentIdentity.generate() });
    expect(t.secure).toBe(true);
    const host = new URL(t.auth.publicUrl).host;
    const answer = randomBytes(200 * 1024); // four Noise messages at least (65,519 bytes each)
    const upload = randomBytes(1024 * 1024);
    const seen: Buffer[] = [];
    t.session.on("stream", (s: YamuxStream) => {
      const chunks: Buffer[] = [];
      s.attach({
        data: (c) => {
          chunks.push(Buffer.from(c));
          const got = Buffer.concat(chunks);
          const headEnd = got.indexOf("\r\n\r\n");
          const length = Number(/content-length: (\d+)/i.exec(got.subarray(0, headEnd).toString())?.[1] ?? 0);
          if (headEnd < 0 || got.length < headEnd + 4 + length) return;
          seen.push(got.subarray(headEnd + 4));
          s.write(
            Buffer.concat([
              Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${answer.length}\r\n\r\n`),
              answer,
            ]),
          );
          s.end();
        },
        end() {},
        drain() {},
        close() {},
      });
    });
    t.start();
    // The peer: the answer's head, its four messages and the FIN leave in one write.
    const peerWrites = countWrites(wsSocket(t.ws));
    const down = await fetchVia(relay.port(), host, "/");
    expect(down.body.equals(answer)).toBe(true);
    expect(peerWrites.n).toBe(1);
    // The relay: every 64 KiB read of the body is more than one Noise message, and they leave together.
    const relayWrites = countWrites(wsSocket([...relay.registry.all()][0]!.ws));
    let messages = 0;
    t.ws.on("message", () => messages++);
    const up = await fetchVia(relay.port(), host, "/", { method: "POST", body: upload });
    expect(up.status).toBe(200);
    expect(seen[1]!.equals(upload)).toBe(true);
    expect(messages).toBeGreaterThan(upload.length / 65_519); // at least 17
    expect(relayWrites.n).toBeLessThanOrEqual(messages / 2);
    t.ws.close();
  });
});
