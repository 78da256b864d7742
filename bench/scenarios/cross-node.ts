/**
 * 9. Cross-node: the tunnel on relay node A, the load sent to node B (one internal hop to A), against
 * the same load sent to node A itself (single-node), in the same repetition. The "tunnel" column is
 * cross-node and the "direct" column single-node, so the ratio is cross-node ÷ single-node.
 */

import { type ClusterEnv, startClusterEnv } from "../lib/cluster-env.ts";
import type { Figure } from "../lib/figures.ts";
import { describeFailures, FigureSet } from "../lib/figures.ts";
import type { Scenario, ScenarioContext } from "../lib/scenario.ts";
import type { CannonJob, CannonResult } from "../load/cannon.ts";
import type { TransferJob, TransferResult } from "../load/transfer.ts";

export interface CrossNodeParams {
  connections: number;
  durationS: number;
  /** A run of this length through each node before the first measurement, not counted. */
  warmupS: number;
  /** Bytes of the single-request download. */
  downloadBytes: number;
}

type Via = "single" | "cross";
const MiB = 1024 * 1024;

function job(env: ClusterEnv, via: Via, connections: number, durationS: number): CannonJob {
  const t = env[via];
  return { url: `http://127.0.0.1:${t.port}/small`, host: t.host!, connections, durationS };
}

export const crossNode: Scenario<CrossNodeParams> = {
  n: 9,
  id: "cross-node",
  title: "Cross-node (tunnel on node A, load on node B)",
  params: {
    quick: { connections: 16, durationS: 2, warmupS: 0.5, downloadBytes: 16 * MiB },
    full: { connections: 16, durationS: 10, warmupS: 2, downloadBytes: 64 * MiB },
    smoke: { connections: 4, durationS: 0.3, warmupS: 0, downloadBytes: 256 * 1024 },
  },
  run: async (ctx, p) => {
    ctx.step("starting redis-server, relay nodes a and b, and a peer on a");
    const env = await startClusterEnv();
    ctx.record("secureChannel", "never");
    ctx.record("baseline", "the same load sent to node A, which holds the tunnel (single-node)");
    try {
      return await runCrossNode(ctx, p, env);
    } finally {
      await env.close();
    }
  },
};

async function runCrossNode(ctx: ScenarioContext, p: CrossNodeParams, env: ClusterEnv): Promise<Figure[]> {
  const figs = new FigureSet();
  const c = p.connections;
  const at = `${c} conn`;
  const dl = `download 1×${p.downloadBytes / MiB} MiB`;
  if (p.warmupS > 0) {
    ctx.step(`warmup, ${c} connections`);
    await env.load.call("cannon", job(env, "single", c, p.warmupS));
    await env.load.call("cannon", job(env, "cross", c, p.warmupS));
  }
  for (let rep = 0; rep < ctx.reps; rep++) {
    const order: Via[] = rep % 2 === 0 ? ["single", "cross"] : ["cross", "single"];
    ctx.step(`${c} connections, repetition ${rep + 1}/${ctx.reps}`);
    const r: Partial<Record<Via, CannonResult>> = {};
    for (const via of order) {
      r[via] = await env.load.call<CannonResult>("cannon", job(env, via, c, p.durationS));
      env.check();
    }
    ctx.step(`${dl}, repetition ${rep + 1}/${ctx.reps}`);
    const d: Partial<Record<Via, TransferResult>> = {};
    for (const via of order) {
      d[via] = await env.load.call<TransferResult>("transfer", {
        direction: "download",
        bytes: p.downloadBytes,
        parallel: 1,
        ...env[via],
      } satisfies TransferJob);
      env.check();
    }
    const x = r.cross!;
    const s = r.single!;
    figs.add(`req/s, ${at}`, "req/s", "higher", x.reqPerS, s.reqPerS);
    figs.add(`p50 latency, ${at}`, "ms", "lower", x.p50Ms, s.p50Ms);
    figs.add(`p99 latency, ${at}`, "ms", "lower", x.p99Ms, s.p99Ms);
    figs.add(`errors, ${at}`, "", "lower", x.errors, s.errors, { ratio: false });
    if (x.errors + s.errors > 0)
      figs.annotate(
        `errors, ${at}`,
        `repetition ${rep + 1}: cross-node ${describeFailures(x.failures)}, single-node ${describeFailures(s.failures)}`,
      );
    figs.add(dl, "MB/s", "higher", d.cross!.mbPerS, d.single!.mbPerS);
    figs.add(`failed downloads`, "", "lower", d.cross!.failed, d.single!.failed, { ratio: false });
  }
  return figs.build();
}
