/**
 * Keeps one agent's tunnel up: connect, serve streams, and reconnect with backoff when it drops.
 * It reports its state truthfully: `connected` only while a session is live.
 */
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { CLOSE_CODES, HTTP_ERRORS } from "../protocol/errors.ts";
import { WebSocket } from "../transport/ws.ts";
import type { YamuxConfig } from "../yamux/config.ts";
import { GoAwayCode } from "../yamux/frame.ts";
import { Backoff, type BackoffOptions, RestartRetry, type RestartRetryOptions } from "./backoff.ts";
import { Forwarder, type IdentityHeaderNames, type RequestRecord } from "./forwarder.ts";
import type { AgentIdentity } from "./identity.ts";
import { newProbeToken, probePublicUrl } from "./reachability.ts";
import {
  type ConnectedTunnel,
  connectTunnel,
  type SecureChannelMode,
  TunnelRefusedError,
} from "./tunnel-client.ts";

export type TunnelState =
  | { kind: "disconnected" }
  | { kind: "connecting" }
  | { kind: "connected"; url: string }
  | { kind: "error"; reason: string };

export interface AgentTunnelOptions {
  name: string;
  agentId: string;
  identity: AgentIdentity;
  relayUrl: string;
  target: URL;
  log: Logger;
  backoff?: Partial<BackoffOptions>;
  /** The quick retries after the relay says it is restarting (default 250 ms doubling to 1 s, 10 tries). */
  restartRetry?: Partial<RestartRetryOptions>;
  maxInFlight?: number;
  headerNames?: IdentityHeaderNames;
  /** Auth refusals retried before giving up (default 3). */
  maxAuthFailures?: number;
  yamux?: Partial<YamuxConfig>;
  /** Noise secure channel: auto (on for ws://), always, never. */
  secureChannel?: SecureChannelMode;
  /** Check the public URL end to end before reporting `connected` (default true). */
  probe?: boolean;
  /** Re-check the public URL this often while connected (default 60 s). */
  probeIntervalMs?: number;
  /** After a failed check, try again this soon (default 5 s). */
  probeRetryMs?: number;
}

export interface AgentTunnelEvents {
  state: [TunnelState];
  /** A connection attempt starts; the argument is Date.now(). */
  attempt: [number];
  request: [RequestRecord];
}

export class AgentTunnel extends EventEmitter<AgentTunnelEvents> {
  state: TunnelState = { kind: "disconnected" };
  since = Date.now();
  readonly forwarder: Forwarder;
  private readonly opts: AgentTunnelOptions;
  private readonly backoff: Backoff;
  private readonly restart: RestartRetry;
  private running = false;
  private current: ConnectedTunnel | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;

  constructor(opts: AgentTunnelOptions) {
    super();
    this.opts = opts;
    this.backoff = new Backoff(opts.backoff);
    this.restart = new RestartRetry(opts.restartRetry);
    this.forwarder = new Forwarder({
      target: opts.target,
      agentId: opts.agentId,
      address: opts.identity.checksumAddress,
      maxInFlight: opts.maxInFlight ?? 1024,
      log: opts.log,
      ...(opts.headerNames ? { headerNames: opts.headerNames } : {}),
    });
    this.forwarder.onRequest = (r) => {
      // Per request: build the log line only when it is written (a spread costs microseconds).
      if (opts.log.isLevelEnabled("info")) opts.log.info({ agent: opts.name, ...r }, "request");
      if (this.listenerCount("request") > 0) this.emit("request", r);
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Closes the tunnel and stops reconnecting. */
  async stop(): Promise<void> {
    this.running = false;
    const c = this.current;
    if (c) {
      c.session.goAway(GoAwayCode.Normal);
      await c.session.flushed();
      c.ws.close(1000, "peer stopping");
    }
    this.wake?.();
    await this.loopDone;
    this.forwarder.close();
    this.setState({ kind: "disconnected" });
  }

  private setState(s: TunnelState): void {
    this.state = s;
    this.since = Date.now();
    this.emit("state", s);
  }

  private async loop(): Promise<void> {
    const { log, name } = this.opts;
    let authFailures = 0;
    while (this.running) {
      this.setState({ kind: "connecting" });
      this.emit("attempt", Date.now());
      let delay: number;
      try {
        const c = await connectTunnel({
          relayUrl: this.opts.relayUrl,
          identity: this.opts.identity,
          ...(this.opts.yamux ? { yamux: this.opts.yamux } : {}),
          ...(this.opts.secureChannel ? { secureChannel: this.opts.secureChannel } : {}),
        });
        authFailures = 0;
        this.restart.end();
        const outcome = await this.serve(c);
        if (!this.running) break;
        if (outcome === "superseded") {
          log.warn({ agent: name }, "another tunnel took over this agent's address; not reconnecting");
          this.setState({ kind: "error", reason: "superseded by a newer tunnel for the same agent" });
          this.running = false;
          break;
        }
        if (outcome === "restarting") this.restart.begin();
        delay = this.restart.next() ?? this.backoff.next();
        log.info({ agent: name, outcome, retryInMs: delay }, "tunnel lost");
      } catch (err) {
        if (!this.running) break;
        if (err instanceof TunnelRefusedError && err.fatal) {
          authFailures++;
          if (authFailures >= (this.opts.maxAuthFailures ?? 3)) {
            log.error({ agent: name, reason: err.reason }, "relay keeps refusing this agent; giving up");
            this.setState({ kind: "error", reason: err.reason });
            this.running = false;
            break;
          }
        }
        this.noteFailure(err);
        delay = this.restart.next() ?? this.backoff.next();
        log.warn({ agent: name, err: (err as Error).message, retryInMs: delay }, "tunnel connect failed");
      }
      this.setState({ kind: "disconnected" });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /**
   * A failed connect during a relay restart. Refused (nothing listens yet), no answer, or a gateway
   * in front answering 5xx: the restart is still under way and the quick retries go on. The old
   * relay closing a half-done login with 1012, or answering `draining`, starts them. A relay that
   * refused us for a reason of its own (a connect limit such as `connect_rate_limited`, an auth
   * close code) ends them: from there the ordinary backoff applies.
   */
  private noteFailure(err: unknown): void {
    if (!(err instanceof TunnelRefusedError)) return;
    if (err.closeCode === CLOSE_CODES.restarting || err.reason === "draining") {
      if (!this.restart.active) this.restart.begin();
    } else if (err.closeCode >= 4000 || Object.hasOwn(HTTP_ERRORS, err.reason)) this.restart.end();
  }

  /** Serves streams until the tunnel ends; says how it ended. */
  private serve(c: ConnectedTunnel): Promise<"superseded" | "restarting" | "lost"> {
    this.current = c;
    const connectedAt = Date.now();
    const url = c.auth.publicUrl;
    this.opts.log.info({ agent: this.opts.name, url }, "tunnel authenticated");
    c.session.on("stream", (stream) => this.forwarder.handle(stream));
    let goAway: number | undefined;
    c.session.on("goaway", (code) => {
      goAway = code;
      // Restarting: the relay wants us elsewhere now; in-flight streams may still finish.
      if (code === GoAwayCode.Restarting) this.setState({ kind: "connecting" });
    });
    c.start(); // every listener is attached: frames queued behind AUTH_OK go in now
    const stopProbing = this.opts.probe === false ? this.markConnected(url) : this.probeLoop(c, url);
    return new Promise((resolve) => {
      const done = (closeCode: number) => {
        stopProbing();
        this.current = undefined;
        this.forwarder.probeToken = undefined;
        this.backoff.connectionEnded(Date.now() - connectedAt);
        if (goAway === GoAwayCode.Superseded || closeCode === CLOSE_CODES.superseded) resolve("superseded");
        else if (goAway === GoAwayCode.Restarting || closeCode === CLOSE_CODES.restarting)
          resolve("restarting");
        else resolve("lost");
      };
      if (c.ws.readyState === WebSocket.CLOSED) return done(1006);
      c.ws.once("close", (code) => done(code));
      c.session.once("close", (err) => {
        // A dead session (keepalive timeout, protocol error) with a socket that has not noticed.
        if (err && c.ws.readyState === WebSocket.OPEN) c.ws.terminate();
      });
    });
  }

  private markConnected(url: string): () => void {
    this.setState({ kind: "connected", url });
    return () => {};
  }

  /**
   * No false green: `connected` only once a request sent to the public URL came back down this
   * tunnel carrying our token. Re-checked periodically; a failed check shows as an error while the
   * tunnel itself stays up.
   */
  private probeLoop(c: ConnectedTunnel, url: string): () => void {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const run = async () => {
      const token = newProbeToken();
      this.forwarder.probeToken = token;
      let next: number;
      try {
        await probePublicUrl(url, token);
        if (stopped || this.current !== c) return;
        if (this.state.kind !== "connected") {
          this.opts.log.info(
            { agent: this.opts.name, url },
            "tunnel connected; public URL checked end to end",
          );
          this.setState({ kind: "connected", url });
        }
        next = this.opts.probeIntervalMs ?? 60_000;
      } catch (err) {
        if (stopped || this.current !== c) return;
        const reason = (err as Error).message;
        this.opts.log.warn({ agent: this.opts.name, url, reason }, "public URL check failed");
        this.setState({ kind: "error", reason });
        next = this.opts.probeRetryMs ?? 5_000;
      }
      timer = setTimeout(run, next);
      timer.unref();
    };
    void run();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }
}
