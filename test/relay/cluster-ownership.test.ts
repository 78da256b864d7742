import { afterEach, describe, expect, it } from "vitest";
import { ClusterUnavailableError, Ownership, ownershipDefaults } from "../../src/relay/cluster/ownership.ts";
import { silent } from "../helpers/harness.ts";
import { type RedisProc, startRedis } from "../helpers/redis.ts";

const stops: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function node(redis: RedisProc, nodeId: string, leaseMs = 1_000): Promise<Ownership> {
  const o = new Ownership({
    ...ownershipDefaults,
    redisUrl: redis.url,
    nodeId,
    internalUrl: `http://127.0.0.1:1/${nodeId}`,
    leaseMs,
    positiveCacheMs: 0,
    negativeCacheMs: 0,
    log: silent,
  });
  await o.start();
  stops.push(() => o.stop());
  return o;
}

const addr = "ab".repeat(20);

function until<T>(emitter: Ownership, event: "superseded" | "state", pred: (v: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const on = (v: T) => {
      if (pred(v)) {
        emitter.off(event, on as never);
        resolve(v);
      }
    };
    emitter.on(event, on as never);
  });
}

describe("cluster ownership in Redis", () => {
  it("routes to the claiming node, and the newest claim supersedes the old owner", async () => {
    const redis = await startRedis();
    stops.push(() => redis.stop());
    const a = await node(redis, "a");
    const b = await node(redis, "b");
    await a.claim(addr);
    expect(await b.lookup(addr)).toMatchObject({ nodeId: "a", epoch: 1, url: "http://127.0.0.1:1/a" });

    const superseded = until<string>(a, "superseded", (x) => x === addr);
    await b.claim(addr);
    expect(await superseded).toBe(addr);
    expect(await a.lookup(addr)).toMatchObject({ nodeId: "b", epoch: 2 });

    // A stale owner's release never deletes the newer claim.
    await a.release(addr);
    expect(await a.lookup(addr)).toMatchObject({ nodeId: "b" });
    await b.release(addr);
    expect(await a.lookup(addr)).toBeNull();
  });

  it("lets the lease lapse when the owning node dies without releasing", async () => {
    const redis = await startRedis();
    stops.push(() => redis.stop());
    const a = await node(redis, "a", 300);
    const b = await node(redis, "b", 300);
    await a.claim(addr);
    expect(await b.lookup(addr)).toMatchObject({ nodeId: "a" });
    a.crash();
    let owner = await b.lookup(addr);
    for (let i = 0; i < 100 && owner; i++) {
      await new Promise((r) => setTimeout(r, 20));
      owner = await b.lookup(addr);
    }
    expect(owner).toBeNull();
  });

  it("degrades while Redis is away, then re-claims its live tunnels", async () => {
    const redis = await startRedis();
    stops.push(() => redis.stop());
    const a = await node(redis, "a", 600);
    const b = await node(redis, "b", 600);
    await a.claim(addr);
    const degraded = until<string>(b, "state", (s) => s === "degraded");
    await redis.stop();
    await degraded;
    await expect(b.lookup(addr)).rejects.toBeInstanceOf(ClusterUnavailableError);
    expect(a.ownedCount).toBe(1); // still serving its own tunnel

    const backA = until<string>(a, "state", (s) => s === "ok");
    const backB = until<string>(b, "state", (s) => s === "ok");
    await redis.restart(); // empty: it lost every key
    await Promise.all([backA, backB]);
    let owner = await b.lookup(addr).catch(() => null);
    for (let i = 0; i < 100 && !owner; i++) {
      await new Promise((r) => setTimeout(r, 20));
      owner = await b.lookup(addr).catch(() => null);
    }
    expect(owner).toMatchObject({ nodeId: "a" });
  });
});
