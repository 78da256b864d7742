/** Every scenario, in the order. */
import type { Scenario } from "../lib/scenario.ts";
import { addedLatency } from "./added-latency.ts";
import { auth } from "./auth.ts";
import { crossNode } from "./cross-node.ts";
import { manyStreams } from "./many-streams.ts";
import { manyTunnels } from "./many-tunnels.ts";
import { restartStorm } from "./restart-storm.ts";
import { secureChannel } from "./secure-channel.ts";
import { smallRequests } from "./small-requests.ts";
import { throughput } from "./throughput.ts";

export const scenarios: Scenario<object>[] = [
  smallRequests,
  throughput,
  manyStreams,
  manyTunnels,
  restartStorm,
  addedLatency,
  auth,
  secureChannel,
  crossNode,
] as Scenario<object>[];
