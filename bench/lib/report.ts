/** The results file: JSON for machines, Markdown for people, both written to the results folder. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Figure } from "./figures.ts";
import type { GitInfo, MachineInfo, SpeedCheck } from "./machine.ts";
import type { Mode, ScenarioResult } from "./scenario.ts";
import type { Summary } from "./stats.ts";

export interface Report {
  suite: Mode;
  startedAt: string;
  seconds: number;
  machine: MachineInfo;
  /** 1-minute load average when the suite finished. */
  loadAverageAtEnd1m: number;
  /** Fixed work timed before the first scenario (compare across results files, not within one). */
  speed: SpeedCheck;
  git: GitInfo;
  reps: number;
  scenarios: ScenarioResult[];
  /** Other tunnels measured beside ours (`--peers`). */
  peers: { requested: boolean; status: "not implemented"; note: string };
}

function num(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return "0";
  return v.toFixed(3);
}

function cell(s: Summary | undefined, unit = ""): string {
  if (!s) return "—";
  const u = unit ? ` ${unit}` : "";
  const gaps = s.missing ? ` [none in ${s.missing} of ${s.values.length}]` : "";
  if (!Number.isFinite(s.median)) return `n/a${gaps}`;
  if (s.min === s.max) return `${num(s.median)}${u}${gaps}`;
  return `${num(s.median)}${u} (${num(s.min)}–${num(s.max)})${gaps}`;
}

function figureRow(n: number | string, title: string, f: Figure): string {
  const label = f.note ? `${f.label} ¹` : f.label;
  return `| ${n} | ${title} | ${label} | ${cell(f.tunnel, f.unit)} | ${cell(f.direct, f.unit)} | ${cell(f.ratio)} |`;
}

export function markdownTable(r: Report): string {
  const lines = [
    "| # | scenario | figure | tunnel | direct | ratio tunnel ÷ direct |",
    "|---|---|---|---|---|---|",
  ];
  for (const s of r.scenarios) {
    if (s.status !== "ok") {
      lines.push(`| ${s.n} | ${s.title} | — | ${s.status}: ${s.note ?? ""} | — | — |`);
      continue;
    }
    for (const f of s.figures) lines.push(figureRow(s.n, s.title, f));
  }
  return lines.join("\n");
}

export function markdown(r: Report): string {
  const notes = r.scenarios.flatMap((s) =>
    s.figures.filter((f) => f.note).map((f) => `- ${s.n}, ${f.label}: ${f.note}`),
  );
  return [
    `# Agent Relay bench: ${r.suite} suite`,
    "",
    `- Commit: \`${r.git.commit}\`${r.git.dirty ? " (with uncommitted changes to tracked files)" : ""}`,
    `- Machine: ${r.machine.cpuModel}, ${r.machine.cores} cores, ${r.machine.memoryMiB} MiB, ${r.machine.platform}, Node ${r.machine.node}`,
    `- Load average (1 min): ${r.machine.loadAverage1m} at start, ${r.loadAverageAtEnd1m} at end`,
    `- Machine speed at start (fixed work, best of 3; lower is faster): JS loop ${r.speed.jsLoopMs} ms, write syscall ${r.speed.syscallUs} µs, loopback TCP round trip ${r.speed.loopbackRoundTripUs} µs`,
    `- Started ${r.startedAt}, took ${Math.round(r.seconds)} s; ${r.reps} repetitions`,
    "- Cells are median (min–max) over the repetitions. The ratio is taken per repetition, tunnel ÷ direct,",
    "  with both measured back to back against the same local server.",
    "",
    markdownTable(r),
    "",
    ...(notes.length > 0 ? ["¹ Notes:", ...notes, ""] : []),
    `Other tunnels (\`--peers\`): ${r.peers.status}. ${r.peers.note}`,
    "",
    "## Parameters",
    "",
    ...r.scenarios.map((s) => {
      const setup = Object.keys(s.setup).length > 0 ? `, set-up \`${JSON.stringify(s.setup)}\`` : "";
      return `- ${s.n} ${s.id}: \`${JSON.stringify(s.params)}\`${setup}, ${s.reps} repetitions, ${Math.round(s.seconds)} s`;
    }),
    "",
  ].join("\n");
}

/** Writes `<stamp>-<suite>-<commit>.json` and `.md`; returns their paths. */
export function writeReport(r: Report, dir: string): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
  const base = join(dir, `${stamp}-${r.suite}-${r.git.commit.slice(0, 7)}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown(r));
  return { json: `${base}.json`, md: `${base}.md` };
}
