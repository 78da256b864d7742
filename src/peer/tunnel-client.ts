/**
 * Dials the relay once: WebSocket with the protocol's subprotocol, answer the challenge, wait for
 * AUTH_OK, then hand the socket to a yamux session. spec/PROTOCOL.md, "Authentication".
 */
import WebSocket from "ws";
import { type AuthOk, decodeAuthOk, decodeChallenge, encodeAuth } from "../protocol/auth-codec.ts";
import { buildAuthMessage, normalizeOrigin } from "../protocol/auth-message.ts";
import { MAX_WS_MESSAGE, SUBPROTOCOL, TUNNEL_PATH } from "../protocol/constants.ts";
import { closeReasonOf, FATAL_CLOSE_CODES } from "../protocol/errors.ts";
import { messageBuffer, sessionOverWebSocket } from "../transport/ws-session.ts";
import type { YamuxConfig } from "../yamux/config.ts";
import type { Session } from "../yamux/session.ts";
import type { AgentIdentity } from "./identity.ts";

export interface ConnectOptions {
  relayUrl: string;
  identity: AgentIdentity;
  /** Send the public key with AUTH so the relay can verify without recovery (default true). */
  sendPublicKey?: boolean;
  /** Give up if the handshake and auth take longer than this. */
  timeoutMs?: number;
  yamux?: Partial<YamuxConfig>;
  /** Override the clock (tests). */
  now?: () => number;
}

export interface ConnectedTunnel {
  ws: WebSocket;
  session: Session;
  auth: AuthOk;
}

/** The relay refused or closed the tunnel before it was up. */
export class TunnelRefusedError extends Error {
  override name = "TunnelRefusedError";
  constructor(
    readonly closeCode: number,
    readonly reason: string,
  ) {
    super(`relay refused the tunnel: ${reason || "connection closed"} (${closeCode})`);
  }
  /** True for refusals that will not change by retrying as is (bad key, wrong relay). */
  get fatal(): boolean {
    return FATAL_CLOSE_CODES.has(this.closeCode);
  }
}

/** ws://host:port or ws://host:port/ → ws://host:port/v1/tunnel; an explicit path is kept. */
export function tunnelUrl(relayUrl: string): URL {
  const u = new URL(relayUrl);
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  if (u.pathname === "/" || u.pathname === "") u.pathname = TUNNEL_PATH;
  return u;
}

export function connectTunnel(opts: ConnectOptions): Promise<ConnectedTunnel> {
  const url = tunnelUrl(opts.relayUrl);
  const origin = normalizeOrigin(url);
  const now = opts.now ?? Date.now;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL], {
      maxPayload: MAX_WS_MESSAGE,
      perMessageDeflate: false,
      handshakeTimeout: opts.timeoutMs ?? 15_000,
    });
    let stage: "challenge" | "auth-ok" | "done" = "challenge";
    const timer = setTimeout(() => {
      ws.terminate();
      fail(new Error(`no answer from ${url.origin} within ${opts.timeoutMs ?? 15_000} ms`));
    }, opts.timeoutMs ?? 15_000);
    const fail = (err: Error) => {
      if (stage === "done") return;
      stage = "done";
      clearTimeout(timer);
      reject(err);
    };
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        if (body.length < 512) body += c;
      });
      res.on("end", () => {
        const code = /"error":"([a-z_]+)"/.exec(body)?.[1] ?? `HTTP ${res.statusCode}`;
        fail(new TunnelRefusedError(0, code));
        ws.terminate();
      });
    });
    ws.on("error", (err) => fail(err));
    ws.on("close", (code, reason) => {
      const text = reason.toString("utf8") || closeReasonOf(code) || "";
      fail(new TunnelRefusedError(code, text));
    });
    const onMessage = (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) return fail(new Error("relay sent a text message"));
      const buf = messageBuffer(data);
      try {
        if (stage === "challenge") {
          const challenge = decodeChallenge(buf);
          const timestamp = Math.floor(now() / 1000);
          const message = buildAuthMessage({
            origin,
            address: opts.identity.address,
            nonce: challenge.nonce,
            timestamp,
          });
          const req = {
            address: opts.identity.address,
            nonce: challenge.nonce,
            timestamp,
            signature: opts.identity.signMessage(message),
            origin,
            ...(opts.sendPublicKey === false ? {} : { publicKey: opts.identity.publicKey }),
          };
          ws.send(encodeAuth(req));
          stage = "auth-ok";
        } else if (stage === "auth-ok") {
          const auth = decodeAuthOk(buf);
          stage = "done";
          clearTimeout(timer);
          ws.off("message", onMessage);
          const session = sessionOverWebSocket(ws, "acceptor", {
            maxMessageBytes: Math.min(auth.maxMessageBytes, MAX_WS_MESSAGE),
            ...opts.yamux,
          });
          ws.on("message", (d, binary) =>
            binary ? session.receive(messageBuffer(d)) : ws.close(1003, "unsupported_data"),
          );
          resolve({ ws, session, auth });
        }
      } catch (err) {
        ws.terminate();
        fail(err as Error);
      }
    };
    ws.on("message", onMessage);
  });
}
