/**
 * A smoke run of the bench: every scenario with tiny parameters, against real processes. Checks that
 * the results are well-formed and written; asserts nothing about speed.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { upOptions } from "../bench/lib/procs.ts";
import { quietProgress } from "../bench/lib/progress.ts";
import type { Summary } from "../bench/lib/stats.ts";
import { runSuite } from "../bench/lib/suite.ts";
import { scenarios } from "../bench/scenarios/index.ts";

const out = mkdtempSync(join(tmpdir(), "agent-relay-bench-smoke-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function expectWellFormed(s: Summary, reps: number, what: string): void {
  expect(s.values, what).toHaveLength(reps);
  for (const v of [s.min, s.median, s.max, ...s.values])
    expect(Number.isFinite(v), `${what}: ${v}`).toBe(true);
  expect(s.min, what).toBeLessThanOrEqual(s.median);
  expect(s.median, what).toBeLessThanOrEqual(s.max);
}

describe("bench smoke run", () => {
  it("runs every scenario and writes well-formed JSON and Markdown results", async () => {
    const { report, json, md } = await runSuite({ mode: "smoke", outDir: out, progress: quietProgress });

    expect(report.scenarios.map((s) => s.id)).toEqual(scenarios.map((s) => s.id));
    expect(report.git.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);

    const hasNoise = (await upOptions()).has("--secure-channel");
    for (const s of report.scenarios) {
      if (s.id === "secure-channel" && !hasNoise) {
        expect(s.status).toBe("skipped");
        expect(s.note).toBe("Noise layer not implemented");
        expect(s.figures).toEqual([]);
        continue;
      }
      expect(s.status, `${s.id}: ${s.note}`).toBe("ok");
      expect(s.figures.length, s.id).toBeGreaterThan(0);
      for (const f of s.figures) {
        const what = `${s.id} / ${f.label}`;
        expectWellFormed(f.tunnel, s.reps, what);
        if (f.direct) expectWellFormed(f.direct, s.reps, `${what} (direct)`);
        if (f.ratio) expectWellFormed(f.ratio, s.reps, `${what} (ratio)`);
      }
    }
    // Each scenario that has a direct baseline reports tunnel ÷ direct ratios.
    const withBaseline = [
      "small-requests",
      "throughput",
      "many-streams",
      "many-tunnels",
      "added-latency",
      "cross-node",
    ];
    if (hasNoise) {
      withBaseline.push("secure-channel");
      expect(report.scenarios.find((x) => x.id === "secure-channel")!.setup.secureChannel).toBe("always");
      expect(report.scenarios.find((x) => x.id === "small-requests")!.setup.secureChannel).toBe("never");
    }
    for (const id of withBaseline) {
      const s = report.scenarios.find((x) => x.id === id)!;
      expect(
        s.figures.some((f) => f.direct && f.ratio),
        id,
      ).toBe(true);
    }

    // Every transfer completed with its full length, through the lean download client too.
    const failed = report.scenarios
      .find((x) => x.id === "throughput")!
      .figures.find((f) => f.label === "failed transfers, all cases")!;
    expect([failed.tunnel.max, failed.direct?.max]).toEqual([0, 0]);
    for (const v of Object.values(report.speed)) expect(v).toBeGreaterThan(0);

    expect(JSON.parse(readFileSync(json, "utf8"))).toEqual(JSON.parse(JSON.stringify(report)));
    const text = readFileSync(md, "utf8");
    expect(text).toContain("| # | scenario | figure | tunnel | direct | ratio tunnel ÷ direct |");
    if (!hasNoise) expect(text).toContain("skipped: Noise layer not implemented");
    expect(text).toContain(report.git.commit);
  }, 120_000);

  it("gc-churn runs one child per container kind and prints a row for each", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "bench/gc-churn.ts", "--seconds", "0.2", "--inflight", "16"],
      { timeout: 60_000 },
    );
    for (const kind of ["map", "set", "object", "slots"])
      expect(stdout, stdout).toMatch(
        new RegExp(`^${kind}\\s+\\|\\s+\\d+ \\|\\s+\\d+ \\|\\s+\\d+ \\| \\d+$`, "m"),
      );
  });
});
