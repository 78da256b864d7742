/**
 * Dials the relay once: WebSocket with the protocol's subprotocol, the Noise handshake when the
 * secure channel is on, then the challenge, AUTH and AUTH_OK, then a yamux session on the same link.
 * spec/PROTOCOL.md, "Authentication" and "Secure channel".
 */

import { isIPv4 } from "node:net";
import { type AuthOk, decodeAuthOk, decodeChallenge, encodeAuth } from "../protocol/auth-codec.ts";
import { buildAuthMessage, normalizeOrigin } from "../protocol/auth-message.ts";
import { MAX_WS_MESSAGE, SUBPROTOCOL, SUBPROTOCOL_NOISE, TUNNEL_PATH } from "../protocol/constants.ts";
import { closeReasonOf, FATAL_CLOSE_CODES } from "../protocol/errors.ts";
import { type Corkable, type Link, noiseLink, plainLink } from "../transport/link.ts";
import { WebSocket } from "../transport/ws.ts";
import { sessionOverLink } from "../transport/ws-session.ts";
import type { YamuxConfig } from "../yamux/config.ts";
import type { Session } from "../yamux/session.ts";
import type { AgentIdentity } from "./identity.ts";

/** `auto`: Noise over ws:// (no TLS), plain over wss://. */
export type SecureChannelMode = "auto" | "always" | "never";

export interface ConnectOptions {
  relayUrl: string;
  identity: AgentIdentity;
  /** Send the public key with AUTH so the relay can verify without recovery (default true). */
  sendPublicKey?: boolean;
  /** Give up if the handshake and auth take longer than this. */
  timeoutMs?: number;
  yamux?: Partial<YamuxConfig>;
  secureChannel?: SecureChannelMode;
  /** Override the clock (tests). */
  now?: () => number;
}

export interface ConnectedTunnel {
  ws: WebSocket;
  session: Session;
  auth: AuthOk;
  /** Whether the tunnel runs inside the Noise secure channel. */
  secure: boolean;
  /** Starts feeding the session; call once a "stream" listener is attached. */
  start: () => void;
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

export function wantsNoise(url: URL, mode: SecureChannelMode = "auto"): boolean {
  return mode === "always" || (mode === "auto" && url.protocol === "ws:");
}

/**
 * RFC 6455 masks client frames with an unpredictable key so that a script choosing a frame's bytes
 * cannot make them read as plain HTTP to a proxy on the path. Nothing on the path can read chosen
 * bytes when they are Noise ciphertext, or when the relay is a loopback IP literal (the host as the
 * URL parser normalised it: `127.1` is `127.0.0.1`, `[::ffff:127.0.0.1]` stays mapped and is masked).
 * There the key is all zeros, which `ws` recognises on both ends and skips the XOR pass over every
 * byte sent (spec/PROTOCOL.md, "Transport", masking).
 */
export function maskingNeeded(url: URL, secure: boolean): boolean {
  if (secure) return false;
  const host = url.hostname;
  return !(host === "[::1]" || (isIPv4(host) && host.startsWith("127.")));
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/**
 * Resolves once the socket is open; rejects with the relay's refusal otherwise. `onOpen` runs
 * synchronously in the open event: the relay's first message can arrive in the same read.
 */
function opened<T>(ws: WebSocket, onOpen: () => T): Promise<T> {
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(onOpen()));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        if (body.length < 512) body += c;
      });
      res.on("end", () => {
        reject(new TunnelRefusedError(0, /"error":"([a-z_]+)"/.exec(body)?.[1] ?? `HTTP ${res.statusCode}`));
        ws.terminate();
      });
    });
    ws.once("error", reject);
  });
}

/** The next message on `link`, or the relay's close as a TunnelRefusedError. */
function inbox(link: Link): { link: Link; next: () => Promise<Buffer>; rest: () => Buffer[] } {
  const queue: Buffer[] = [];
  let waiting: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  let closed: TunnelRefusedError | undefined;
  link.onMessage((buf) => {
    if (waiting) {
      waiting.resolve(buf);
      waiting = undefined;
    } else queue.push(buf);
  });
  link.ws.on("close", (code, reason) => {
    closed = new TunnelRefusedError(code, reason.toString("utf8") || closeReasonOf(code) || "");
    waiting?.reject(closed);
  });
  const next = () => {
    const head = queue.shift();
    if (head) return Promise.resolve(head);
    if (closed) return Promise.reject(closed);
    return new Promise<Buffer>((resolve, reject) => {
      waiting = { resolve, reject };
    });
  };
  /** Messages that arrived but were not asked for yet (the first yamux frames behind AUTH_OK). */
  const rest = () => queue.splice(0);
  return { link, next, rest };
}

export async function connectTunnel(opts: ConnectOptions): Promise<ConnectedTunnel> {
  const url = tunnelUrl(opts.relayUrl);
  const origin = normalizeOrigin(url);
  const now = opts.now ?? Date.now;
  const secure = wantsNoise(url, opts.secureChannel);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  // One subprotocol, never a list: a man in the middle cannot strip the secure channel off.
  const ws = new WebSocket(url, [secure ? SUBPROTOCOL_NOISE : SUBPROTOCOL], {
    maxPayload: MAX_WS_MESSAGE + 64,
    perMessageDeflate: false,
    handshakeTimeout: timeoutMs,
    ...(maskingNeeded(url, secure) ? {} : { generateMask: zeroMask }),
  });
  // The socket under the WebSocket (an upgraded HTTP response's), for corking a flush.
  let socket: Corkable | undefined;
  ws.once("upgrade", (res) => {
    socket = res.socket;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ws.terminate();
  }, timeoutMs);
  try {
    const plain = await opened(ws, () => (secure ? undefined : inbox(plainLink(ws, MAX_WS_MESSAGE, socket))));
    const box = plain ?? inbox(await noiseLink(ws, true, undefined, socket));
    const { link, next } = box;
    const challenge = decodeChallenge(await next());
    const timestamp = Math.floor(now() / 1000);
    const message = buildAuthMessage({
      origin,
      address: opts.identity.address,
      nonce: challenge.nonce,
      timestamp,
      channelBinding: link.channelBinding,
    });
    link.send(
      encodeAuth({
        address: opts.identity.address,
        nonce: challenge.nonce,
        timestamp,
        signature: opts.identity.signMessage(message),
        origin,
        ...(opts.sendPublicKey === false ? {} : { publicKey: opts.identity.publicKey }),
      }),
    );
    const auth = decodeAuthOk(await next());
    const session = sessionOverLink(
      link,
      "acceptor",
      // The relay pings every interval: the peer need not, unless the relay goes quiet.
      {
        maxMessageBytes: Math.min(auth.maxMessageBytes, MAX_WS_MESSAGE),
        keepAliveQuietOnly: true,
        ...opts.yamux,
      },
      false,
    );
    // Frames may already be queued right behind AUTH_OK (the relay routes to a tunnel as soon as it
    // logs in). They go to the session, in order, once its owner listens for streams.
    const start = () => {
      for (const buf of box.rest()) session.receive(buf);
      link.onMessage((buf) => session.receive(buf));
    };
    return { ws, session, auth, secure, start };
  } catch (err) {
    ws.terminate();
    if (timedOut) throw new Error(`no answer from ${url.origin} within ${timeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
