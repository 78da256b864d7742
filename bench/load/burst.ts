/**
 * `count` requests in flight at once, each on its own connection, to a path the local server holds
 * open. Connections are opened in batches so the listen queues are not the thing measured.
 */
import { type Outcome, send, type Target } from "./http-client.ts";

export interface BurstJob extends Target {
  count: number;
  path: string;
  /** Connections opened per event-loop turn. */
  batch: number;
  timeoutMs: number;
}

export interface BurstResult {
  ok: number;
  failed: number;
  seconds: number;
  /** Count per HTTP status or socket error code, for the failures. */
  failures: Record<string, number>;
}

export async function burst(job: BurstJob): Promise<BurstResult> {
  const started = performance.now();
  const all: Promise<Outcome>[] = [];
  for (let i = 0; i < job.count; i++) {
    all.push(send(job, job.path, { timeoutMs: job.timeoutMs }));
    if ((i + 1) % job.batch === 0) await new Promise((r) => setImmediate(r));
  }
  const outcomes = await Promise.all(all);
  const seconds = (performance.now() - started) / 1000;
  const failures: Record<string, number> = {};
  let ok = 0;
  for (const o of outcomes) {
    if (o.status === 200) ok++;
    else {
      const key = o.error ?? String(o.status);
      failures[key] = (failures[key] ?? 0) + 1;
    }
  }
  return { ok, failed: job.count - ok, seconds, failures };
}
