/**
 * 1. Small requests: 1 KiB GET answers at several connection counts, direct and through the tunnel,
 * from autocannon. Also the relay + peer CPU time each tunnelled request costs.
 */

import { type TunnelEnv, withEnv } from "../lib/env.ts";
import type { Figure } from "../lib/figures.ts";
import { describeFailures, FigureSet } from "../lib/figures.ts";
import { cpuSeconds } from "../lib/proc-stats.ts";
import type { Scenario, ScenarioContext } from "../lib/scenario.ts";
import type { CannonJob, CannonResult } from "../load/cannon.ts";

export interface SmallRequestsParams {
  connections: number[];
  durationS: number;
  /** A run of this length before each connection count's first measurement, not counted. */
  warmupS: number;
}

function job(env: TunnelEnv, via: "direct" | "tunnel", connections: number, durationS: number): CannonJob {
  const t = via === "direct" ? env.direct : env.tunnel;
  return {
    url: `http://127.0.0.1:${t.port}/small`,
    ...(t.host ? { host: t.host } : {}),
    connections,
    durationS,
  };
}

export const smallRequests: Scenario<SmallRequestsParams> = {
  n: 1,
  id: "small-requests",
  title: "Small requests (1 KiB GET)",
  params: {
    quick: { connections: [1, 16, 128, 1024], durationS: 2, warmupS: 0.5 },
    full: { connections: [1, 16, 128, 1024], durationS: 10, warmupS: 2 },
    smoke: { connections: [4], durationS: 0.3, warmupS: 0 },
  },
  run: (ctx, p) => withEnv(ctx, {}, (env) => runSmallRequests(ctx, p, env)),
};

/** Scenario 1's measurements on `env` (scenario 8 runs them with Noise on). */
export async function runSmallRequests(
  ctx: ScenarioContext,
  p: SmallRequestsParams,
  env: TunnelEnv,
): Promise<Figure[]> {
  const figs = new FigureSet();
  for (const c of p.connections) {
    if (p.warmupS > 0) {
      ctx.step(`warmup, ${c} connections`);
      await env.load.call("cannon", job(env, "direct", c, p.warmupS));
      await env.load.call("cannon", job(env, "tunnel", c, p.warmupS));
    }
    for (let rep = 0; rep < ctx.reps; rep++) {
      ctx.step(`${c} connections, repetition ${rep + 1}/${ctx.reps}`);
      const order: Array<"direct" | "tunnel"> = rep % 2 === 0 ? ["direct", "tunnel"] : ["tunnel", "direct"];
      const r: Partial<Record<"direct" | "tunnel", CannonResult>> = {};
      let cpu = 0;
      for (const via of order) {
        const before = cpuSeconds(env.relay.pid) + cpuSeconds(env.peer.pid);
        r[via] = await env.load.call<CannonResult>("cannon", job(env, via, c, p.durationS));
        env.check();
        if (via === "tunnel") cpu = cpuSeconds(env.relay.pid) + cpuSeconds(env.peer.pid) - before;
      }
      const t = r.tunnel!;
      const d = r.direct!;
      const at = `${c} conn`;
      figs.add(`req/s, ${at}`, "req/s", "higher", t.reqPerS, d.reqPerS);
      figs.add(`p50 latency, ${at}`, "ms", "lower", t.p50Ms, d.p50Ms);
      figs.add(`p99 latency, ${at}`, "ms", "lower", t.p99Ms, d.p99Ms);
      figs.add(`max latency, ${at}`, "ms", "lower", t.maxMs, d.maxMs);
      figs.add(`errors, ${at}`, "", "lower", t.errors, d.errors, { ratio: false });
      if (t.errors + d.errors > 0)
        figs.annotate(
          `errors, ${at}`,
          `repetition ${rep + 1}: tunnel ${describeFailures(t.failures)}, direct ${describeFailures(d.failures)}`,
        );
      figs.add(
        `relay+peer CPU per request, ${at}`,
        "µs",
        "lower",
        t.requests > 0 ? (cpu / t.requests) * 1e6 : Number.NaN,
      );
    }
  }
  return figs.build();
}
