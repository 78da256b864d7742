/**
 * Tunnel ownership across relay nodes, in Redis: who holds the tunnel for an address, which node to
 * forward to, and who was superseded. Redis is the only shared state; there is no consensus of our own.
 */
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { CLAIM, RELEASE, RENEW } from "./scripts.ts";

export interface OwnershipOptions {
  redisUrl: string;
  nodeId: string;
  /** How other nodes reach this node's internal listener, e.g. http://10.0.0.5:9101. */
  internalUrl: string;
  /** Owner-key lease; renewed every third of it while the tunnel lives. */
  leaseMs: number;
  /** Route cache lifetimes. */
  positiveCacheMs: number;
  negativeCacheMs: number;
  prefix: string;
  log: Logger;
}

export const ownershipDefaults = {
  leaseMs: 15_000,
  positiveCacheMs: 5_000,
  negativeCacheMs: 1_000,
  prefix: "ar:",
};

export interface OwnerInfo {
  nodeId: string;
  epoch: number;
  /** Internal URL of the owning node; undefined if that node stopped announcing itself. */
  url: string | undefined;
}

export class ClusterUnavailableError extends Error {
  override name = "ClusterUnavailableError";
}

interface RedisWithScripts extends Redis {
  arClaim(
    owner: string,
    epoch: string,
    nodeId: string,
    leaseMs: number,
    channel: string,
    address: string,
  ): Promise<number>;
  arRenew(owner: string, epoch: string, value: string, leaseMs: number, mine: number): Promise<number>;
  arRelease(owner: string, value: string): Promise<number>;
}

export interface OwnershipEvents {
  /** A newer tunnel for this address authenticated on another node. */
  superseded: [string];
  state: ["ok" | "degraded"];
}

export class Ownership extends EventEmitter<OwnershipEvents> {
  readonly opts: OwnershipOptions;
  private readonly redis: RedisWithScripts;
  private readonly sub: Redis;
  /** Addresses whose tunnels live on this node, with the epoch of our claim (0 = not yet claimed). */
  private readonly owned = new Map<string, number>();
  /** Claims on their way to Redis, by address: only the newest one's answer counts. */
  private readonly claiming = new Map<string, number>();
  private claimSeq = 0;
  private readonly cache = new Map<string, { owner: OwnerInfo | null; until: number }>();
  private timer: NodeJS.Timeout | undefined;
  state: "ok" | "degraded" = "degraded";
  redisErrors = 0;

  constructor(opts: OwnershipOptions) {
    super();
    this.opts = opts;
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 1000,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    };
    this.redis = new Redis(opts.redisUrl, common) as RedisWithScripts;
    this.sub = new Redis(opts.redisUrl, { ...common, commandTimeout: undefined });
    this.redis.defineCommand("arClaim", { numberOfKeys: 2, lua: CLAIM });
    this.redis.defineCommand("arRenew", { numberOfKeys: 2, lua: RENEW });
    this.redis.defineCommand("arRelease", { numberOfKeys: 1, lua: RELEASE });
    this.redis.on("error", (err) => {
      this.redisErrors++;
      opts.log.debug({ err: err.message }, "redis error");
    });
    this.sub.on("error", () => {});
    this.redis.on("ready", () => {
      this.setState("ok");
      void this.renewAll();
    });
    this.redis.on("close", () => this.setState("degraded"));
    this.sub.on("ready", () => void this.sub.subscribe(this.channel).catch(() => {}));
    this.sub.on("message", (_channel: string, message: string) => this.onTakeover(message));
  }

  private get channel(): string {
    return `${this.opts.prefix}takeover`;
  }

  private key(kind: "owner" | "epoch" | "node", id: string): string {
    return `${this.opts.prefix}${kind}:${id}`;
  }

  private setState(s: "ok" | "degraded"): void {
    if (this.state === s) return;
    this.state = s;
    this.opts.log.info(
      { state: s },
      s === "ok" ? "cluster connected to redis" : "cluster degraded: redis unreachable",
    );
    this.emit("state", s);
  }

  async start(): Promise<void> {
    await Promise.all([this.redis.connect(), this.sub.connect()]);
    await this.sub.subscribe(this.channel);
    await this.announce();
    this.timer = setInterval(
      () => {
        void this.announce();
        void this.renewAll();
      },
      Math.max(100, Math.floor(this.opts.leaseMs / 3)),
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.owned.keys()].map((a) => this.release(a)));
    await this.redis.del(this.key("node", this.opts.nodeId)).catch(() => {});
    this.redis.disconnect();
    this.sub.disconnect();
  }

  /** Drops the connections without releasing anything, as a crashed node would (tests). */
  crash(): void {
    if (this.timer) clearInterval(this.timer);
    this.redis.disconnect();
    this.sub.disconnect();
  }

  get ownedCount(): number {
    return this.owned.size;
  }

  /** Records that a tunnel for `address` now lives here and claims it; never throws. */
  async claim(address: string): Promise<void> {
    const seq = ++this.claimSeq;
    this.claiming.set(address, seq);
    this.owned.set(address, 0);
    this.cache.delete(address);
    try {
      const epoch = Number(
        await this.redis.arClaim(
          this.key("owner", address),
          this.key("epoch", address),
          this.opts.nodeId,
          this.opts.leaseMs,
          this.channel,
          address,
        ),
      );
      if (this.claiming.get(address) !== seq) return; // a newer claim for this address follows
      this.claiming.delete(address);
      if (this.owned.has(address)) this.owned.set(address, epoch);
      // The tunnel left while the claim was on its way: take the claim back at once.
      else
        await this.redis.arRelease(this.key("owner", address), `${this.opts.nodeId} ${epoch}`).catch(() => 0);
    } catch (err) {
      if (this.claiming.get(address) === seq) this.claiming.delete(address);
      // Redis is away: keep serving locally; the renew loop claims it once Redis is back.
      this.opts.log.warn({ address, err: (err as Error).message }, "ownership claim deferred");
    }
  }

  /** The tunnel for `address` left this node: compare-and-delete our claim. */
  async release(address: string): Promise<void> {
    const epoch = this.owned.get(address);
    this.owned.delete(address);
    if (!epoch) return;
    await this.redis.arRelease(this.key("owner", address), `${this.opts.nodeId} ${epoch}`).catch(() => 0);
  }

  /** Where the tunnel for `address` lives, or null. Throws ClusterUnavailableError without Redis. */
  async lookup(address: string): Promise<OwnerInfo | null> {
    const hit = this.cache.get(address);
    if (hit && hit.until > Date.now()) return hit.owner;
    let value: string | null;
    try {
      value = await this.redis.get(this.key("owner", address));
    } catch (err) {
      throw new ClusterUnavailableError((err as Error).message);
    }
    let owner: OwnerInfo | null = null;
    if (value) {
      const [nodeId = "", epoch = "0"] = value.split(" ");
      const url = nodeId === this.opts.nodeId ? this.opts.internalUrl : await this.nodeUrl(nodeId);
      owner = { nodeId, epoch: Number(epoch), url };
    }
    const ttl = owner ? this.opts.positiveCacheMs : this.opts.negativeCacheMs;
    this.cache.set(address, { owner, until: Date.now() + ttl });
    return owner;
  }

  /** Forget a cached route (after a failed forward). */
  invalidate(address: string): void {
    this.cache.delete(address);
  }

  private async nodeUrl(nodeId: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(this.key("node", nodeId))) ?? undefined;
    } catch (err) {
      throw new ClusterUnavailableError((err as Error).message);
    }
  }

  private async announce(): Promise<void> {
    await this.redis
      .set(this.key("node", this.opts.nodeId), this.opts.internalUrl, "PX", this.opts.leaseMs)
      .catch(() => {});
  }

  private async renewAll(): Promise<void> {
    for (const [address, epoch] of [...this.owned]) {
      try {
        if (epoch === 0) {
          await this.claim(address);
          continue;
        }
        const still = await this.redis.arRenew(
          this.key("owner", address),
          this.key("epoch", address),
          `${this.opts.nodeId} ${epoch}`,
          this.opts.leaseMs,
          epoch,
        );
        if (!still && this.owned.get(address) === epoch) {
          this.owned.delete(address);
          this.emit("superseded", address);
        }
      } catch {
        return; // Redis is away; try again on the next tick or when it is back
      }
    }
  }

  private onTakeover(message: string): void {
    const [address = "", nodeId = "", epochText = "0"] = message.split(" ");
    this.cache.delete(address);
    if (nodeId === this.opts.nodeId) return; // our own claim; local takeover is the registry's job
    const mine = this.owned.get(address);
    if (mine !== undefined && (mine === 0 || mine < Number(epochText))) {
      this.owned.delete(address);
      this.emit("superseded", address);
    }
  }
}
