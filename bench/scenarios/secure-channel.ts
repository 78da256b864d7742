/**
 * 8. Secure channel: scenarios 1 and 2 again with the Noise layer on (`up --secure-channel always`),
 * each against its own direct baseline. Compare its ratios with scenarios 1 and 2, which run plain.
 * A build without the option reports the scenario as skipped.
 */

import { withEnv } from "../lib/env.ts";
import { upOptions } from "../lib/procs.ts";
import type { Scenario } from "../lib/scenario.ts";
import { runSmallRequests, type SmallRequestsParams } from "./small-requests.ts";
import { runThroughput, type ThroughputParams } from "./throughput.ts";

export interface SecureChannelParams {
  smallRequests: SmallRequestsParams;
  throughput: ThroughputParams;
}

const MiB = 1024 * 1024;

export const secureChannel: Scenario<SecureChannelParams> = {
  n: 8,
  id: "secure-channel",
  title: "Secure channel (Noise)",
  params: {
    quick: {
      smallRequests: { connections: [16, 128], durationS: 2, warmupS: 0.5 },
      throughput: { singleBytes: 64 * MiB, parallel: 8, parallelBytes: 0, warmupBytes: 64 * MiB },
    },
    full: {
      smallRequests: { connections: [1, 16, 128, 1024], durationS: 10, warmupS: 2 },
      throughput: { singleBytes: 256 * MiB, parallel: 8, parallelBytes: 256 * MiB, warmupBytes: 64 * MiB },
    },
    smoke: {
      smallRequests: { connections: [4], durationS: 0.3, warmupS: 0 },
      throughput: { singleBytes: 1 * MiB, parallel: 2, parallelBytes: 0, warmupBytes: 0 },
    },
  },
  async run(ctx, p) {
    if (!(await upOptions()).has("--secure-channel")) return { skipped: "Noise layer not implemented" };
    return withEnv(ctx, { secureChannel: "always" }, async (env) => [
      ...(await runSmallRequests(ctx, p.smallRequests, env)),
      ...(await runThroughput(ctx, p.throughput, env)),
    ]);
  },
};
