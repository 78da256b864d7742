/**
 * 8. Secure channel: scenarios 1 and 2 again with the Noise layer on. The protocol has no Noise
 * layer yet, so this reports itself as skipped rather than measuring anything.
 */
import type { Scenario } from "../lib/scenario.ts";

export const secureChannel: Scenario<Record<string, never>> = {
  n: 8,
  id: "secure-channel",
  title: "Secure channel (Noise)",
  params: { quick: {}, full: {}, smoke: {} },
  async run() {
    return { skipped: "Noise layer not implemented" };
  },
};
