/**
 * The running peer (`agent-relay up`): one AgentTunnel per agent that should be up, kept in line
 * with the settings file. Edits to the file (from the CLI or the management page) take effect
 * within a second: the folder is watched, and SIGHUP forces a re-read.
 */
import { EventEmitter } from "node:events";
import { type FSWatcher, watch } from "node:fs";
import type { Logger } from "pino";
import { AgentTunnel, type AgentTunnelOptions, type TunnelState } from "./agent-tunnel.ts";
import type { RequestRecord } from "./forwarder.ts";
import type { AgentRecord, PeerSettings, Store } from "./store.ts";

export interface DaemonOptions {
  store: Store;
  log: Logger;
  /** Run only this agent, whether or not it is enabled. */
  only?: string;
  /** Extra options for every tunnel (tests shorten timers here). */
  tunnelOptions?: Partial<AgentTunnelOptions>;
  /** Watch the settings file for changes (default true). */
  watch?: boolean;
}

export interface AgentStatus {
  name: string;
  address: string;
  target: string | undefined;
  enabled: boolean;
  state: TunnelState;
  /** ms since the last state change; undefined when no tunnel runs for the agent. */
  sinceMs: number | undefined;
  /** Requests being forwarded right now. */
  inFlight: number;
}

interface Running {
  key: string;
  tunnel: AgentTunnel;
}

export interface DaemonEvents {
  change: [];
  request: [RequestRecord & { agent: string; time: number }];
  error: [Error];
}

export class PeerDaemon extends EventEmitter<DaemonEvents> {
  private readonly opts: DaemonOptions;
  private readonly running = new Map<string, Running>();
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private settings: PeerSettings = { version: 1, agents: [] };
  private stopped = false;

  constructor(opts: DaemonOptions) {
    super();
    this.opts = opts;
  }

  /** Starts the tunnels the settings ask for; throws if the settings cannot be read. */
  start(): void {
    this.reconcile();
    if (this.opts.watch !== false) {
      this.watcher = watch(this.opts.store.home, (_event, file) => {
        if (file === null || file === "config.json") this.scheduleReconcile();
      });
      this.watcher.on("error", (err) => this.opts.log.warn({ err: err.message }, "settings watch failed"));
    }
  }

  scheduleReconcile(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      try {
        this.reconcile();
      } catch (err) {
        // A half-edited file by hand: keep running as is and say why.
        this.opts.log.warn({ err: (err as Error).message }, "settings not applied");
      }
    }, 50);
  }

  /** Starts, stops and restarts tunnels so they match the settings file. */
  reconcile(): void {
    if (this.stopped) return;
    this.settings = this.opts.store.load();
    const wanted = new Map<string, AgentRecord>();
    for (const a of this.settings.agents) {
      if (this.opts.only ? a.name === this.opts.only : a.enabled) wanted.set(a.name, a);
    }
    for (const [name, r] of this.running) {
      const want = wanted.get(name);
      if (!want || this.keyOf(want) !== r.key) {
        this.running.delete(name);
        this.opts.log.info({ agent: name }, want ? "agent settings changed; reconnecting" : "agent disabled");
        void r.tunnel.stop().then(() => this.emit("change"));
      }
    }
    for (const [name, a] of wanted) {
      if (this.running.has(name)) continue;
      try {
        this.running.set(name, { key: this.keyOf(a), tunnel: this.startTunnel(a) });
      } catch (err) {
        this.opts.log.error({ agent: name, err: (err as Error).message }, "agent not started");
        // Only the management page listens; without it the log line above is the report.
        if (this.listenerCount("error") > 0) this.emit("error", err as Error);
      }
    }
    this.emit("change");
  }

  status(): AgentStatus[] {
    return this.settings.agents.map((a) => {
      const r = this.running.get(a.name);
      return {
        name: a.name,
        address: a.address,
        target: a.target,
        enabled: a.enabled,
        state: r ? r.tunnel.state : { kind: "disconnected" },
        sinceMs: r ? Date.now() - r.tunnel.since : undefined,
        inFlight: r ? r.tunnel.forwarder.inFlight : 0,
      };
    });
  }

  tunnel(name: string): AgentTunnel | undefined {
    return this.running.get(name)?.tunnel;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((r) => r.tunnel.stop()));
  }

  /** What, when changed, needs a new tunnel. */
  private keyOf(a: AgentRecord): string {
    return JSON.stringify([a.target, this.settings.relay, a.id]);
  }

  private startTunnel(a: AgentRecord): AgentTunnel {
    const relayUrl = this.settings.relay;
    if (!relayUrl) throw new Error("no relay set; pass --relay ws://<relay host>:<port>");
    if (!a.target)
      throw new Error(`agent ${a.name} has no target; run: agent-relay agent set ${a.name} --target <url>`);
    const tunnel = new AgentTunnel({
      name: a.name,
      agentId: a.id,
      identity: this.opts.store.loadIdentity(a.name),
      relayUrl,
      target: new URL(a.target),
      log: this.opts.log,
      ...(this.settings.headers ? { headerNames: this.settings.headers } : {}),
      ...(this.settings.maxInFlight ? { maxInFlight: this.settings.maxInFlight } : {}),
      ...(this.settings.secureChannel ? { secureChannel: this.settings.secureChannel } : {}),
      ...this.opts.tunnelOptions,
    });
    tunnel.on("state", () => this.emit("change"));
    tunnel.on("request", (r) => {
      if (this.listenerCount("request") > 0) this.emit("request", { ...r, agent: a.name, time: Date.now() });
    });
    tunnel.start();
    return tunnel;
  }
}
