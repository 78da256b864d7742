/**
 * `npm run bench [-- --full | --smoke] [--only <scenario>] [--reps <n>] [--peers] [--out <dir>]`
 * Runs the bench suite, shows progress on stderr, prints the Markdown table and writes JSON and
 * Markdown results.
 */
import { parseArgs } from "node:util";
import { killAllNow } from "./lib/procs.ts";
import { consoleProgress } from "./lib/progress.ts";
import { markdownTable } from "./lib/report.ts";
import type { Mode } from "./lib/scenario.ts";
import { runSuite } from "./lib/suite.ts";

const { values } = parseArgs({
  options: {
    full: { type: "boolean", default: false },
    smoke: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
    reps: { type: "string" },
    peers: { type: "boolean", default: false },
    out: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  process.stdout.write(
    "usage: npm run bench -- [--full | --smoke] [--only <scenario>]... [--reps <n>] [--peers] [--out <dir>]\n" +
      "scenarios: small-requests throughput many-streams many-tunnels restart-storm added-latency auth secure-channel cross-node\n",
  );
  process.exit(0);
}
if (values.full && values.smoke) {
  process.stderr.write("bench: choose --full or --smoke, not both\n");
  process.exit(2);
}
const mode: Mode = values.full ? "full" : values.smoke ? "smoke" : "quick";
const reps = values.reps === undefined ? undefined : Number(values.reps);
if (reps !== undefined && (!Number.isInteger(reps) || reps < 1)) {
  process.stderr.write(`bench: --reps must be a whole number >= 1, got "${values.reps}"\n`);
  process.exit(2);
}
if (values.peers)
  process.stderr.write(
    "bench: --peers is not implemented yet (see bench/README.md); running our tunnel only\n",
  );

process.once("SIGINT", () => {
  killAllNow();
  process.exit(130);
});
process.once("exit", killAllNow);

try {
  const { report, json, md } = await runSuite({
    mode,
    ...(values.only ? { only: values.only } : {}),
    ...(reps ? { reps } : {}),
    peers: values.peers,
    ...(values.out ? { outDir: values.out } : {}),
    progress: consoleProgress(),
  });
  process.stdout.write(`\n${markdownTable(report)}\n\nwrote ${json}\nwrote ${md}\n`);
  process.exitCode = report.scenarios.some((s) => s.status === "failed") ? 1 : 0;
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exitCode = 2;
}
