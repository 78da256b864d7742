/**
 * The load generator: its own process, driven over IPC by the bench. Each message names a job and
 * its arguments; the answer carries the job's result. Runs one job at a time.
 */
import { authLoop } from "../load/auth-loop.ts";
import { burst } from "../load/burst.ts";
import { cannon } from "../load/cannon.ts";
import { sweep } from "../load/sweep.ts";
import { transfer } from "../load/transfer.ts";

// biome-ignore lint/suspicious/noExplicitAny: each job validates nothing; the bench is the only caller.
const jobs: Record<string, (args: any) => Promise<unknown>> = {
  cannon,
  transfer,
  burst,
  sweep,
  auth: authLoop,
};

process.on("message", async (raw) => {
  const msg = raw as { id: number; job: string; args: unknown };
  try {
    const fn = jobs[msg.job];
    if (!fn) throw new Error(`unknown job ${msg.job}`);
    process.send?.({ id: msg.id, ok: true, result: await fn(msg.args) });
  } catch (err) {
    process.send?.({ id: msg.id, ok: false, error: (err as Error).stack ?? String(err) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.({ event: "ready" });
