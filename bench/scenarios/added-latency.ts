/** 6. Added latency: at one connection, the p50 and p99 the tunnel adds over direct. */

import { startTunnelEnv } from "../lib/env.ts";
import { FigureSet } from "../lib/figures.ts";
import type { Scenario } from "../lib/scenario.ts";
import type { CannonResult } from "../load/cannon.ts";

export interface AddedLatencyParams {
  durationS: number;
  warmupS: number;
}

export const addedLatency: Scenario<AddedLatencyParams> = {
  n: 6,
  id: "added-latency",
  title: "Added latency (1 connection)",
  params: {
    quick: { durationS: 3, warmupS: 0.5 },
    full: { durationS: 10, warmupS: 2 },
    smoke: { durationS: 0.3, warmupS: 0 },
  },
  async run(ctx, p) {
    const env = await startTunnelEnv();
    ctx.record("secureChannel", env.setup.secureChannel);
    const figs = new FigureSet();
    const job = (via: "direct" | "tunnel", durationS: number) => {
      const t = via === "direct" ? env.direct : env.tunnel;
      return {
        url: `http://127.0.0.1:${t.port}/small`,
        ...(t.host ? { host: t.host } : {}),
        connections: 1,
        durationS,
      };
    };
    try {
      if (p.warmupS > 0) {
        ctx.step("warmup");
        await env.load.call("cannon", job("direct", p.warmupS));
        await env.load.call("cannon", job("tunnel", p.warmupS));
      }
      for (let rep = 0; rep < ctx.reps; rep++) {
        ctx.step(`repetition ${rep + 1}/${ctx.reps}`);
        const first = rep % 2 === 0 ? "direct" : "tunnel";
        const a = await env.load.call<CannonResult>("cannon", job(first, p.durationS));
        const b = await env.load.call<CannonResult>(
          "cannon",
          job(first === "direct" ? "tunnel" : "direct", p.durationS),
        );
        env.check();
        const [d, t] = first === "direct" ? [a, b] : [b, a];
        figs.add("p50 latency", "ms", "lower", t.p50Ms, d.p50Ms);
        figs.add("p99 latency", "ms", "lower", t.p99Ms, d.p99Ms);
        figs.add("p50 added by the tunnel", "ms", "lower", t.p50Ms - d.p50Ms);
        figs.add("p99 added by the tunnel", "ms", "lower", t.p99Ms - d.p99Ms);
      }
    } finally {
      await env.close();
    }
    return figs.build();
  },
};
