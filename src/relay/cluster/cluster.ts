/**
 * A relay node's part in a cluster: ownership of its tunnels in Redis, the internal listener other
 * nodes forward to, and the forwarding of public requests for agents whose tunnel lives elsewhere.
 * spec/CLUSTER.md.
 */
import type { ClientHttp2Stream, Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Logger } from "pino";
import { HopClient, type HopServer, type PublicReq, type PublicRes, startHopServer } from "./internal.ts";
import { ClusterUnavailableError, Ownership, ownershipDefaults } from "./ownership.ts";

export interface ClusterConfig {
  redisUrl: string;
  nodeId: string;
  internalHost: string;
  internalPort: number;
  /** URL other nodes use to reach the internal listener (default http://<internalHost>:<port>). */
  internalUrl?: string;
  secret: string;
  leaseMs?: number;
}

export interface ClusterStats {
  forwardsMade: number;
  forwardsReceived: number;
  forwardErrors: number;
}

export type ForwardOutcome = "forwarded" | "offline" | "unavailable";

/** Serves a request that another node forwarded here, from this node's own tunnel. */
export type ServeForwarded = (
  req: Http2ServerRequest,
  res: Http2ServerResponse,
  address: string,
  client: { ip: string; proto: string },
) => void;

export class Cluster {
  readonly stats: ClusterStats = { forwardsMade: 0, forwardsReceived: 0, forwardErrors: 0 };
  private ownership: Ownership | undefined;
  private hop: HopServer | undefined;
  private readonly client: HopClient;

  constructor(
    readonly config: ClusterConfig,
    private readonly log: Logger,
  ) {
    this.client = new HopClient(config.secret, config.nodeId);
  }

  /** Starts the internal listener, then joins Redis. `onSuperseded` runs when another node took an address. */
  async start(
    serve: ServeForwarded,
    reject: (res: Http2ServerResponse, status: number, code: string) => void,
    onSuperseded: (address: string) => void,
  ): Promise<void> {
    const c = this.config;
    this.hop = await startHopServer(
      c.internalHost,
      c.internalPort,
      c.secret,
      (req, res, meta) => {
        this.stats.forwardsReceived++;
        serve(req, res, meta.address, { ip: meta.clientIp, proto: meta.proto });
      },
      reject,
    );
    const host = c.internalHost.includes(":") ? `[${c.internalHost}]` : c.internalHost;
    this.ownership = new Ownership({
      ...ownershipDefaults,
      ...(c.leaseMs ? { leaseMs: c.leaseMs } : {}),
      redisUrl: c.redisUrl,
      nodeId: c.nodeId,
      internalUrl: c.internalUrl ?? `http://${host}:${this.hop.port}`,
      log: this.log,
    });
    this.ownership.on("superseded", onSuperseded);
    await this.ownership.start();
  }

  get internalPort(): number | undefined {
    return this.hop?.port;
  }

  get state(): "ok" | "degraded" {
    return this.ownership?.state ?? "degraded";
  }

  get ownedCount(): number {
    return this.ownership?.ownedCount ?? 0;
  }

  get redisErrors(): number {
    return this.ownership?.redisErrors ?? 0;
  }

  claim(address: string): void {
    void this.ownership?.claim(address);
  }

  release(address: string): void {
    void this.ownership?.release(address);
  }

  /**
   * Sends a request for an agent whose tunnel is not here to the node that has it. Resolves with
   * what happened; on "offline" and "unavailable" nothing was written to `res` yet.
   */
  async forward(
    req: PublicReq,
    res: PublicRes,
    address: string,
    client: { ip: string; proto: string },
    onAnswer: (status: number) => void,
    isGone: () => boolean = () => false,
  ): Promise<ForwardOutcome> {
    let owner: Awaited<ReturnType<Ownership["lookup"]>>;
    try {
      owner = (await this.ownership?.lookup(address)) ?? null;
    } catch (err) {
      if (err instanceof ClusterUnavailableError) return "unavailable";
      throw err;
    }
    // Not owned anywhere, owned by a node that stopped announcing itself, or owned by us while our
    // registry says otherwise (a stale record): one hop at most, so answer offline.
    if (!owner?.url || owner.nodeId === this.config.nodeId) return "offline";
    if (isGone()) return "forwarded"; // the client left during the lookup: open nothing
    this.stats.forwardsMade++;
    return new Promise((resolve) => {
      this.client.forward(
        owner.url!,
        req,
        res,
        { address, clientIp: client.ip, proto: client.proto },
        (err) => {
          this.stats.forwardErrors++;
          this.ownership?.invalidate(address);
          this.log.warn({ address, node: owner.nodeId, err: err.message }, "forward to owning node failed");
          resolve("unavailable");
        },
        (status) => {
          onAnswer(status);
          resolve("forwarded");
        },
      );
    });
  }

  /** A raw stream to the agent's tunnel on its owning node (for upgrades), or why there is none. */
  async openRaw(
    req: PublicReq,
    address: string,
    client: { ip: string; proto: string },
  ): Promise<
    | { outcome: "forwarded"; stream: ClientHttp2Stream }
    | { outcome: "refused"; code: string; retryAfter?: string }
    | { outcome: "offline" | "unavailable" }
  > {
    let owner: Awaited<ReturnType<Ownership["lookup"]>>;
    try {
      owner = (await this.ownership?.lookup(address)) ?? null;
    } catch (err) {
      if (err instanceof ClusterUnavailableError) return { outcome: "unavailable" };
      throw err;
    }
    if (!owner?.url || owner.nodeId === this.config.nodeId) return { outcome: "offline" };
    this.stats.forwardsMade++;
    try {
      const hop = await this.client.openRaw(owner.url, req, {
        address,
        clientIp: client.ip,
        proto: client.proto,
      });
      if ("refused" in hop) {
        if (hop.refused.code === "agent_offline") this.ownership?.invalidate(address);
        return { outcome: "refused", ...hop.refused };
      }
      return { outcome: "forwarded", stream: hop.stream };
    } catch {
      this.stats.forwardErrors++;
      this.ownership?.invalidate(address);
      return { outcome: "unavailable" };
    }
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.ownership?.stop();
    await this.hop?.close();
  }
}
