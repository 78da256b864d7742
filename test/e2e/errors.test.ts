import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { decodeChallenge, encodeAuth } from "../../src/protocol/auth-codec.ts";
import { buildAuthMessage } from "../../src/protocol/auth-message.ts";
import { SUBPROTOCOL, TUNNEL_PATH } from "../../src/protocol/constants.ts";
import { CLOSE_CODES } from "../../src/protocol/errors.ts";
import { cleanup, fetchVia, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";

afterEach(cleanup);

interface AuthTweaks {
  origin?: string;
  timestampOffsetS?: number;
  signer?: AgentIdentity;
  nonce?: Uint8Array;
  /** Sign with these fields but send others (tamper after signing). */
  sendOrigin?: string;
}

/** Runs the auth handshake by hand with one thing wrong; resolves with the close code and reason. */
function authWith(
  port: number,
  identity: AgentIdentity,
  t: AuthTweaks = {},
): Promise<{ code: number; reason: string; nonce: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${TUNNEL_PATH}`, [SUBPROTOCOL]);
    let nonce: Uint8Array = new Uint8Array();
    ws.on("message", (data: Buffer) => {
      if (data[0] !== 0x01) return;
      nonce = decodeChallenge(new Uint8Array(data)).nonce;
      const origin = t.origin ?? `ws://127.0.0.1:${port}`;
      const timestamp = Math.floor(Date.now() / 1000) + (t.timestampOffsetS ?? 0);
      const useNonce = t.nonce ?? nonce;
      const message = buildAuthMessage({ origin, address: identity.address, nonce: useNonce, timestamp });
      const signature = (t.signer ?? identity).signMessage(message);
      ws.send(
        encodeAuth({
          address: identity.address,
          nonce: useNonce,
          timestamp,
          signature,
          origin: t.sendOrigin ?? origin,
          publicKey: identity.publicKey,
        }),
      );
    });
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString(), nonce }));
    ws.on("error", reject);
  });
}

describe("auth rejections", () => {
  it("closes with a documented code for each bad AUTH", async () => {
    const relay = await startRelay();
    const port = relay.port();
    const me = AgentIdentity.generate();

    const skewPast = await authWith(port, me, { timestampOffsetS: -31 });
    expect(skewPast.code).toBe(CLOSE_CODES.clock_skew);
    expect(skewPast.reason).toMatch(/^clock_skew/);
    const skewFuture = await authWith(port, me, { timestampOffsetS: 45 });
    expect(skewFuture.code).toBe(CLOSE_CODES.clock_skew);

    const otherRelay = await authWith(port, me, { origin: "ws://relay.example.com" });
    expect(otherRelay.code).toBe(CLOSE_CODES.wrong_origin);

    const wrongKey = await authWith(port, me, { signer: AgentIdentity.generate() });
    expect(wrongKey.code).toBe(CLOSE_CODES.bad_signature);

    // Signed for another origin, then the origin field rewritten to this relay's: the signature breaks.
    const tampered = await authWith(port, me, {
      origin: "ws://relay.example.com",
      sendOrigin: `ws://127.0.0.1:${port}`,
    });
    expect(tampered.code).toBe(CLOSE_CODES.bad_signature);

    // A nonce from an earlier connection is never accepted again.
    const first = await authWith(port, me, { timestampOffsetS: -100 });
    const replay = await authWith(port, me, { nonce: first.nonce });
    expect(replay.code).toBe(CLOSE_CODES.bad_nonce);

    expect(relay.registry.size).toBe(0);
  });

  it("refuses a tunnel connect without the protocol's subprotocol", async () => {
    const relay = await startRelay();
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${relay.port()}${TUNNEL_PATH}`, ["agent-relay.v99"]);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("error", () => {});
    });
    expect(status).toBe(426);
  });

  it("closes a connection that never authenticates", async () => {
    const relay = await startRelay({ authTimeoutMs: 300 });
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${relay.port()}${TUNNEL_PATH}`, [SUBPROTOCOL]);
      ws.on("close", (c) => resolve(c));
    });
    expect(code).toBe(CLOSE_CODES.auth_timeout);
  });
});

describe("public errors", () => {
  it("answers agent_offline, invalid_subdomain and local_unreachable as JSON", async () => {
    const relay = await startRelay();
    const offline = await fetchVia(relay.port(), `${"ab".repeat(20)}.localhost`, "/x");
    expect(offline.status).toBe(502);
    expect(JSON.parse(offline.body.toString())).toEqual({ error: "agent_offline" });

    for (const host of [
      "nothex.localhost",
      `${"ab".repeat(19)}.localhost`,
      `x.${"ab".repeat(20)}.localhost`,
    ]) {
      const bad = await fetchVia(relay.port(), host, "/");
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.body.toString())).toEqual({ error: "invalid_subdomain" });
    }

    // A target port nothing listens on: grab a free port and close it.
    const gone = await startLocalServer(() => {});
    const deadUrl = gone.url;
    await new Promise<void>((r) => gone.server.close(() => r()));
    const peer = await startPeer(relay, deadUrl);
    const unreachable = await fetchVia(relay.port(), peer.host, "/");
    expect(unreachable.status).toBe(502);
    expect(JSON.parse(unreachable.body.toString())).toEqual({ error: "local_unreachable" });
    expect(unreachable.headers["x-agent-relay-error"]).toBe("local_unreachable");
  });

  it("ends the public response promptly when the peer dies mid-download", async () => {
    const relay = await startRelay();
    const local = await startLocalServer((_req, res) => {
      res.writeHead(200, { "content-length": 100 * 1024 * 1024 });
      res.write(Buffer.alloc(256 * 1024));
      // ...and never finishes on its own.
    });
    const peer = await startPeer(relay, local.url);
    const outcome = await new Promise<string>((resolve) => {
      const req = request(
        { host: "127.0.0.1", port: relay.port(), path: "/big", headers: { host: peer.host } },
        (res) => {
          let killed = false;
          res.on("data", () => {
            if (!killed) {
              killed = true;
              // Kill the tunnel's socket from the peer's side without any goodbye.
              const ws = (peer.tunnel as unknown as { current?: { ws: WebSocket } }).current?.ws;
              ws?.terminate();
            }
          });
          res.on("end", () => resolve("end"));
          res.on("error", () => resolve("error"));
          res.on("aborted", () => resolve("aborted"));
        },
      );
      req.on("error", () => resolve("error"));
      req.end();
    });
    // The response was cut short (aborted/error), never completed as if whole.
    expect(["aborted", "error"]).toContain(outcome);
  });
});
