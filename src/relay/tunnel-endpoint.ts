/**
 * The tunnel endpoint: WebSocket upgrade, challenge, AUTH check, then a yamux session registered
 * under the authenticated address. spec/PROTOCOL.md, "Transport" and "Authentication".
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { AuthDecodeError, decodeAuth, encodeAuthOk, encodeChallenge } from "../protocol/auth-codec.ts";
import { checksumAddress, toHex } from "../protocol/auth-message.ts";
import { verifyAuth } from "../protocol/auth-verify.ts";
import { NONCE_BYTES, PROTOCOL_VERSION, SUBPROTOCOL, SUBPROTOCOL_NOISE } from "../protocol/constants.ts";
import { CLOSE_CODES, type CloseReason, closeText } from "../protocol/errors.ts";
import { type Link, noiseLink, plainLink, processStaticKey } from "../transport/link.ts";
import { WebSocket, WebSocketServer } from "../transport/ws.ts";
import { sessionOverLink } from "../transport/ws-session.ts";
import { GoAwayCode } from "../yamux/frame.ts";
import type { RelayConfig } from "./config.ts";
import { rawError } from "./http-errors.ts";
import type { Limits } from "./limits.ts";
import type { TunnelRegistry } from "./registry.ts";
import { Tunnel } from "./tunnel.ts";

export interface TunnelEndpointContext {
  config: RelayConfig;
  registry: TunnelRegistry;
  log: Logger;
  origins: () => ReadonlySet<string>;
  urlFor: (address: string) => string;
  limits: Limits;
  onAuthResult?: (reason: CloseReason | "ok") => void;
  /** A connect refused before the upgrade (a limit), with its error code. */
  onRefused?: (code: "connect_rate_limited" | "too_many_pending" | "unsupported_protocol") => void;
  /** A tunnel replaced an older one for the same address. */
  onTakeover?: () => void;
  /** A tunnel for `address` is now routable here (the cluster claims it). */
  onTunnelUp?: (address: string) => void;
  /** The last tunnel for `address` here is gone (the cluster releases it). */
  onTunnelDown?: (address: string) => void;
}

export class TunnelEndpoint {
  private readonly wss: WebSocketServer;
  private readonly ctx: TunnelEndpointContext;
  private readonly pending = new Set<WebSocket>();

  constructor(ctx: TunnelEndpointContext) {
    this.ctx = ctx;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: ctx.config.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // The peer offers exactly one; the relay speaks both (spec/PROTOCOL.md, "Secure channel").
      handleProtocols: (offered) =>
        offered.has(SUBPROTOCOL_NOISE) ? SUBPROTOCOL_NOISE : offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false,
    });
  }

  /** A tunnel connect from `clientIp`: limits first, then the subprotocol, then the WebSocket. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, clientIp: string): void {
    const admission = this.ctx.limits.admitTunnel(clientIp);
    if (!admission.ok) {
      this.ctx.onRefused?.(admission.code);
      const retry: Record<string, string> =
        admission.code === "connect_rate_limited" ? { "Retry-After": `${admission.retryAfterS}` } : {};
      socket.end(rawError(admission.code, retry));
      return;
    }
    socket.once("close", admission.release);
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL) && !offered.includes(SUBPROTOCOL_NOISE)) {
      this.ctx.onRefused?.("unsupported_protocol");
      socket.end(
        rawError("unsupported_protocol", {
          "Sec-WebSocket-Protocol": `${SUBPROTOCOL_NOISE}, ${SUBPROTOCOL}`,
        }),
      );
      return;
    }
    // The 101 answer and, on a plain link, the challenge leave in one write: one syscall and one
    // wake-up of the peer fewer per tunnel, which counts when thousands reconnect at once.
    socket.cork();
    this.wss.handleUpgrade(req, socket, head, (ws) =>
      this.onConnection(ws, socket, clientIp, admission.release),
    );
    socket.uncork();
  }

  /** Closes connections that have not finished auth (used on shutdown). */
  closePending(): void {
    for (const ws of this.pending) ws.close(CLOSE_CODES.restarting, "restarting");
  }

  private onConnection(ws: WebSocket, socket: Duplex, remote: string, authenticated: () => void): void {
    const { config, log } = this.ctx;
    let nonce: Uint8Array | undefined = randomBytes(NONCE_BYTES);
    let tunnel: Tunnel | undefined;
    this.pending.add(ws);
    const fail = (reason: CloseReason, detail: string) => {
      log.info({ remote, reason, detail }, "tunnel auth failed");
      this.ctx.onAuthResult?.(reason);
      ws.close(CLOSE_CODES[reason], closeText(`${reason}: ${detail}`));
    };
    const timer = setTimeout(
      () => fail("auth_timeout", `no valid AUTH within ${config.authTimeoutMs} ms`),
      config.authTimeoutMs,
    );
    timer.unref();
    ws.on("error", (err) => log.debug({ remote, err: err.message }, "tunnel socket error"));
    ws.on("close", () => {
      clearTimeout(timer);
      this.pending.delete(ws);
      if (tunnel) {
        this.retire(tunnel);
        log.info({ address: tunnel.address }, "tunnel closed");
      }
    });
    const secure = ws.protocol === SUBPROTOCOL_NOISE;
    const challenge = (link: Link) => {
      link.onMessage((buf) => {
        if (nonce === undefined) return; // a failed AUTH is being closed
        let req: ReturnType<typeof decodeAuth>;
        try {
          req = decodeAuth(buf);
        } catch (err) {
          nonce = undefined;
          return fail("bad_message", err instanceof AuthDecodeError ? err.message : "undecodable");
        }
        const verdict = verifyAuth(req, {
          expectedNonce: nonce,
          allowedOrigins: this.ctx.origins(),
          nowS: Math.floor(Date.now() / 1000),
          maxSkewS: config.maxClockSkewS,
          channelBinding: link.channelBinding,
        });
        nonce = undefined; // single use, whatever the verdict
        if (!verdict.ok) return fail(verdict.reason, verdict.detail);
        clearTimeout(timer);
        this.pending.delete(ws);
        authenticated();
        tunnel = this.establish(link, toHex(verdict.address));
        // The checksum costs a keccak: only for a log line that is written.
        if (log.isLevelEnabled("info"))
          log.info({ address: checksumAddress(verdict.address), remote, secure }, "tunnel connected");
        this.ctx.onAuthResult?.("ok");
      });
      link.send(encodeChallenge({ version: PROTOCOL_VERSION, nonce: nonce!, relayTimeMs: Date.now() }));
    };
    // A plain link sends its challenge now, in the same write as the 101. A secure one listens at
    // once too, but the challenge waits for the Noise handshake (and maybe the process's key).
    if (!secure) return challenge(plainLink(ws, config.maxMessageBytes, socket));
    noiseLink(ws, false, processStaticKey(), socket).then(challenge, (err: Error) => {
      if (ws.readyState === WebSocket.OPEN) fail("secure_channel_error", err.message);
    });
  }

  /** Takes a tunnel out of routing; tells the cluster when the address has no tunnel here any more. */
  private retire(tunnel: Tunnel): void {
    const { registry } = this.ctx;
    const wasCurrent = registry.get(tunnel.address) === tunnel;
    registry.remove(tunnel);
    if (wasCurrent) this.ctx.onTunnelDown?.(tunnel.address);
  }

  private establish(link: Link, address: string): Tunnel {
    const { config, registry, log } = this.ctx;
    const ws = link.ws;
    const publicUrl = this.ctx.urlFor(address);
    link.send(
      encodeAuthOk({
        publicUrl,
        maxStreams: config.maxStreamsPerTunnel,
        keepAliveMs: config.keepAliveIntervalMs,
        maxMessageBytes: config.maxMessageBytes,
      }),
    );
    const session = sessionOverLink(link, "opener", {
      acceptStreams: false,
      maxMessageBytes: config.maxMessageBytes,
      keepAliveIntervalMs: config.keepAliveIntervalMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    });
    const tunnel = new Tunnel(address, publicUrl, ws, session, config.maxStreamsPerTunnel);
    session.on("close", (err) => {
      this.retire(tunnel);
      if (err?.reason === "protocol_error") tunnel.close("protocol_error", err.message);
      else if (err?.reason === "keepalive_timeout") tunnel.close("keepalive_timeout");
      else if (ws.readyState === WebSocket.OPEN) ws.terminate();
    });
    session.on("goaway", (code) => {
      // The peer is leaving: route nothing new to it.
      log.info({ address, code }, "peer sent GoAway");
      this.retire(tunnel);
    });
    const previous = registry.add(tunnel);
    this.ctx.onTunnelUp?.(address);
    if (previous) {
      log.info({ address }, "tunnel superseded by a newer one");
      this.ctx.onTakeover?.();
      previous.drain(GoAwayCode.Superseded, "superseded", config.drainTimeoutMs);
    }
    return tunnel;
  }
}
