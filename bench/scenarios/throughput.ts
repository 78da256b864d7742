/**
 * 2. Throughput: large downloads and uploads on one request and on several at once, direct and
 * through the tunnel, with the relay's and the peer's CPU seconds per GiB moved.
 */

import { type TunnelEnv, withEnv } from "../lib/env.ts";
import type { Figure } from "../lib/figures.ts";
import { FigureSet } from "../lib/figures.ts";
import { cpuSeconds } from "../lib/proc-stats.ts";
import type { Scenario, ScenarioContext } from "../lib/scenario.ts";
import type { TransferJob, TransferResult } from "../load/transfer.ts";

export interface ThroughputParams {
  /** Bytes of the single-request transfer. */
  singleBytes: number;
  parallel: number;
  /** Bytes of each of the parallel requests; 0 leaves the parallel cases out. */
  parallelBytes: number;
  /**
   * Bytes of one download and one upload each way before the first measurement, not counted: a
   * 64 MiB transfer lasts about 0.1 s, so without it the first repetition times the JIT compiler.
   */
  warmupBytes: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const throughput: Scenario<ThroughputParams> = {
  n: 2,
  id: "throughput",
  title: "Throughput (bulk download and upload)",
  params: {
    quick: { singleBytes: 64 * MiB, parallel: 8, parallelBytes: 16 * MiB, warmupBytes: 64 * MiB },
    full: { singleBytes: 256 * MiB, parallel: 8, parallelBytes: 256 * MiB, warmupBytes: 64 * MiB },
    smoke: { singleBytes: 1 * MiB, parallel: 2, parallelBytes: 256 * 1024, warmupBytes: 0 },
  },
  run: (ctx, p) => withEnv(ctx, {}, (env) => runThroughput(ctx, p, env)),
};

/** Scenario 2's measurements on `env` (scenario 8 runs them with Noise on). */
export async function runThroughput(
  ctx: ScenarioContext,
  p: ThroughputParams,
  env: TunnelEnv,
): Promise<Figure[]> {
  const figs = new FigureSet();
  const all: Array<{ direction: "download" | "upload"; parallel: number; bytes: number }> = [
    { direction: "download", parallel: 1, bytes: p.singleBytes },
    { direction: "upload", parallel: 1, bytes: p.singleBytes },
    { direction: "download", parallel: p.parallel, bytes: p.parallelBytes },
    { direction: "upload", parallel: p.parallel, bytes: p.parallelBytes },
  ];
  const cases = all.filter((k) => k.bytes > 0);
  if (p.warmupBytes > 0) {
    ctx.step("warmup");
    for (const direction of ["download", "upload"] as const)
      for (const target of [env.direct, env.tunnel])
        await env.load.call<TransferResult>("transfer", {
          direction,
          bytes: p.warmupBytes,
          parallel: 1,
          ...target,
        } satisfies TransferJob);
  }
  for (let rep = 0; rep < ctx.reps; rep++) {
    let failedTunnel = 0;
    let failedDirect = 0;
    for (const k of cases) {
      const name = `${k.direction} ${k.parallel}×${k.bytes / MiB} MiB`;
      ctx.step(`${name}, repetition ${rep + 1}/${ctx.reps}`);
      const base = { direction: k.direction, bytes: k.bytes, parallel: k.parallel };
      const directFirst = rep % 2 === 0;
      let d: TransferResult | undefined;
      if (directFirst)
        d = await env.load.call<TransferResult>("transfer", {
          ...base,
          ...env.direct,
        } satisfies TransferJob);
      const relay0 = cpuSeconds(env.relay.pid);
      const peer0 = cpuSeconds(env.peer.pid);
      const t = await env.load.call<TransferResult>("transfer", {
        ...base,
        ...env.tunnel,
      } satisfies TransferJob);
      env.check();
      const relayCpu = cpuSeconds(env.relay.pid) - relay0;
      const peerCpu = cpuSeconds(env.peer.pid) - peer0;
      if (!directFirst)
        d = await env.load.call<TransferResult>("transfer", {
          ...base,
          ...env.direct,
        } satisfies TransferJob);
      failedTunnel += t.failed;
      failedDirect += d!.failed;
      figs.add(`${name}`, "MB/s", "higher", t.mbPerS, d!.mbPerS);
      const gib = t.bytes / GiB;
      figs.add(`${name}: relay CPU per GiB`, "s/GiB", "lower", gib > 0 ? relayCpu / gib : Number.NaN);
      figs.add(`${name}: peer CPU per GiB`, "s/GiB", "lower", gib > 0 ? peerCpu / gib : Number.NaN);
    }
    figs.add("failed transfers, all cases", "", "lower", failedTunnel, failedDirect, {
      ratio: false,
    });
  }
  return figs.build();
}
