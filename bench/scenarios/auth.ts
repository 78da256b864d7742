/**
 * 7. Auth: AUTH verifications per second on one core (one single-threaded process), with the public
 * key in the message (verify) and without it (recover the key, then verify).
 */

import { FigureSet } from "../lib/figures.ts";
import { startLoadWorker } from "../lib/procs.ts";
import type { Scenario } from "../lib/scenario.ts";
import type { AuthResult } from "../load/auth-loop.ts";

export interface AuthParams {
  durationMs: number;
  messages: number;
}

export const auth: Scenario<AuthParams> = {
  n: 7,
  id: "auth",
  title: "Auth verifications (one core)",
  params: {
    quick: { durationMs: 1000, messages: 64 },
    full: { durationMs: 10_000, messages: 256 },
    smoke: { durationMs: 200, messages: 4 },
  },
  async run(ctx, p) {
    const worker = startLoadWorker();
    const figs = new FigureSet();
    try {
      for (let rep = 0; rep < ctx.reps; rep++) {
        for (const withPublicKey of [true, false]) {
          ctx.step(`${withPublicKey ? "with" : "without"} public key, repetition ${rep + 1}/${ctx.reps}`);
          const r = await worker.call<AuthResult>("auth", {
            withPublicKey,
            durationMs: p.durationMs,
            messages: p.messages,
          });
          if (r.refused > 0) throw new Error(`${r.refused} valid AUTH messages were refused`);
          figs.add(
            withPublicKey ? "verifications/s, public key sent" : "verifications/s, key recovered",
            "per s",
            "higher",
            r.perS,
          );
        }
      }
    } finally {
      await worker.stop();
    }
    return figs.build();
  },
};
