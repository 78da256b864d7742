/**
 * Long downloads read by curl, three ways: direct, through the tunnel, and through two bare Node
 * pipes in a row (bench/procs/pipe-hop.ts: accept, dial, `pipe()` both ways). The pipes have the
 * tunnel's shape (two Node processes, three loopback connections) without its framing: a reference
 * for what a relay and a peer written in Node can do on this machine (not a hard limit: a tunnel
 * batches across streams, which they cannot), and the tunnel's ratio to them is what our framing
 * and bookkeeping cost. Scenario 2's 64 MiB lasts a tenth of a second through the tunnel, too
 * short for /proc's 10 ms CPU ticks to say where a change went; a GiB lasts seconds.
 *
 *   npm run build && npx tsx bench/download-compare.ts [--runs 5] [--mib 1024] [--upload] [--secure]
 *     [--target R]
 *
 * Same processes as the suite (bench/lib/env.ts: local server, relay, one peer; plain yamux). One
 * uncounted download each way, then `--runs` rounds of the three, in an order that changes from
 * round to round (bench/lib/rounds.ts). Prints the median MB/s each way, the medians of the
 * per-round ratios to direct, and the CPU time and the write syscalls per MiB of the relay and the
 * peer, and of the two pipes. Then how much of the machine sat idle each way, and the CPU budget a
 * target ratio leaves the relay and the peer per MiB (bench/lib/budget.ts; issue 11's 0.45 for
 * downloads, `--target R` for either direction) next to what they took.
 *
 * `--upload` sends the bytes the other way instead (curl -T from a temporary file to /upload);
 * `--secure` runs the tunnel over the Noise channel (`up --secure-channel always`).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { flags } from "./lib/args.ts";
import { type Budget, budget, describeBudgets, idleShare, type RunCpu } from "./lib/budget.ts";
import { startTunnelEnv } from "./lib/env.ts";
import { cpuSeconds, cpuSince, cpuTimes, machineCpu, writeSyscalls } from "./lib/proc-stats.ts";
import { type Proc, startPipes, tempDir } from "./lib/procs.ts";
import { roundOrder } from "./lib/rounds.ts";
import { summarize } from "./lib/stats.ts";
import type { Target } from "./load/http-client.ts";

const run = promisify(execFile);

const args = flags("download-compare");
const runs = args.number("runs", 5, true);
const mib = args.number("mib", 1024, true);
const bytes = mib * 1024 * 1024;
const upload = args.has("upload");
/** Issue 11's target for a download's ratio to direct; `--target` sets one for either direction. */
const goal = args.text("target") === undefined ? (upload ? undefined : 0.45) : args.number("target", 0);
const CORES = availableParallelism();
const secure = args.has("secure");
const verb = upload ? "upload" : "download";
const DOWNLOAD_TIMEOUT_MS = 600_000;

type Way = "direct" | "tunnel" | "pipes";
const WAYS: Way[] = ["direct", "tunnel", "pipes"];

/** The file an upload sends: `bytes` random bytes (curl reads it as it sends). */
function uploadFile(): { path: string; remove(): void } {
  const dir = tempDir("upload");
  const path = join(dir.path, "body");
  const fd = openSync(path, "w");
  const chunk = randomBytes(1024 * 1024);
  for (let i = 0; i < mib; i++) writeSync(fd, chunk);
  closeSync(fd);
  return { path, remove: dir.remove };
}

/** One download to /dev/null, or one upload of `file`; its rate in MB/s (10^6 bytes). */
async function curl(way: Way, t: Target, file?: string): Promise<number> {
  const host = t.host ? ["-H", `Host: ${t.host}`] : [];
  const base = `http://127.0.0.1:${t.port}`;
  const what = file
    ? ["-T", file, "-H", "Expect:", "-w", "\n%{http_code} %{size_upload} %{speed_upload}", `${base}/upload`]
    : [
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download} %{speed_download}",
        `${base}/download?bytes=${bytes}`,
      ];
  let out: string;
  try {
    ({ stdout: out } = await run("curl", ["-sS", ...host, ...what], {
      timeout: DOWNLOAD_TIMEOUT_MS,
    }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { killed?: boolean; stderr?: string };
    if (e.code === "ENOENT") throw new Error("curl is not installed: run `bash scripts/setup-system.sh`");
    if (e.killed) throw new Error(`${way} ${verb}: not done within ${DOWNLOAD_TIMEOUT_MS / 1000} s`);
    throw new Error(`${way} ${verb} failed: ${e.stderr?.trim() || e.message}`);
  }
  const lines = out.trim().split("\n");
  const [status, size, speed] = lines[lines.length - 1]!.split(" ").map(Number);
  // An upload's answer says how many bytes the local server read.
  const served = file ? (JSON.parse(lines[0] ?? "{}") as { bytes?: number }).bytes : size;
  if (status !== 200 || size !== bytes || served !== bytes)
    throw new Error(`${way} ${verb} failed: status ${status}, ${served} of ${bytes} bytes`);
  return speed! / 1e6;
}

const env = await startTunnelEnv(secure ? { secureChannel: "always" } : {});
const hops: Proc[] = [];
const file = upload ? uploadFile() : undefined;
try {
  const { port, far, near } = await startPipes(env.direct.port, hops);
  const targets: Record<Way, Target> = { direct: env.direct, tunnel: env.tunnel, pipes: { port } };
  // The two processes between curl and the local server on each way, curl's side first.
  const middle: Partial<Record<Way, [number, number]>> = {
    tunnel: [env.relay.pid, env.peer.pid],
    pipes: [far.pid, near.pid],
  };
  console.log(`curl, ${mib} MiB per ${verb}${secure ? ", tunnel over Noise" : ""}, median of ${runs} rounds`);
  for (const way of WAYS) await curl(way, targets[way], file?.path);
  const rate: Record<Way, number[]> = { direct: [], tunnel: [], pipes: [] };
  const ratio = { tunnel: [] as number[], pipes: [] as number[], tunnelToPipes: [] as number[] };
  const cpuMs = { tunnel: [[], []] as number[][], pipes: [[], []] as number[][] };
  const writes = { tunnel: [[], []] as number[][], pipes: [[], []] as number[][] };
  const idle = { direct: [] as number[], tunnel: [] as number[] };
  const budgets: Budget[] = [];
  for (let r = 0; r < runs; r++) {
    const got: Partial<Record<Way, number>> = {};
    const spent: Partial<Record<Way, RunCpu>> = {};
    for (const way of roundOrder(WAYS, r)) {
      const pids = middle[way];
      const cpu0 = pids?.map(cpuSeconds);
      const writes0 = pids?.map(writeSyscalls);
      const tunnel0 = middle.tunnel!.map(cpuTimes);
      const local0 = cpuSeconds(env.local.pid);
      const machine0 = machineCpu();
      const mbs = await curl(way, targets[way], file?.path);
      const machine1 = machineCpu();
      const tunnel1 = middle.tunnel!.map(cpuTimes);
      spent[way] = {
        units: mib,
        busy: machine1.busy - machine0.busy,
        idle: machine1.idle - machine0.idle,
        local: cpuSeconds(env.local.pid) - local0,
        tunnel: tunnel1
          .map((t, k) => cpuSince(tunnel0[k]!, t))
          .reduce((sum, d) => ({ all: sum.all + d.all, system: sum.system + d.system })),
      };
      if (pids && cpu0 && writes0 && way !== "direct")
        for (const [k, pid] of pids.entries()) {
          cpuMs[way][k]!.push(((cpuSeconds(pid) - cpu0[k]!) / mib) * 1e3);
          writes[way][k]!.push((writeSyscalls(pid) - writes0[k]!) / mib);
        }
      got[way] = mbs;
      rate[way].push(mbs);
    }
    ratio.tunnel.push(got.tunnel! / got.direct!);
    ratio.pipes.push(got.pipes! / got.direct!);
    ratio.tunnelToPipes.push(got.tunnel! / got.pipes!);
    idle.direct.push(idleShare(spent.direct!));
    idle.tunnel.push(idleShare(spent.tunnel!));
    // The target rate in MiB/s: curl's MB are 10^6 bytes.
    if (goal !== undefined)
      budgets.push(budget(spent.tunnel!, spent.direct!, (goal * got.direct! * 1e6) / 2 ** 20, CORES));
  }
  env.check();
  for (const h of hops) h.assertRunning();
  const med = (v: number[]) => summarize(v).median;
  const list = (v: number[], digits: number) => v.map((x) => x.toFixed(digits)).join(", ");
  const mbs = (way: Way) => `${way} ${Math.round(med(rate[way]))} MB/s (${list(rate[way], 0)})`;
  const cpu = (v: number[]) => `${med(v).toFixed(3)} ms (${list(v, 3)})`;
  const wr = (v: number[]) => `${med(v).toFixed(2)} (${list(v, 2)})`;
  console.log(`${mbs("direct")}, ${mbs("tunnel")}, ${mbs("pipes")}`);
  console.log(
    `ratio to direct: tunnel ${med(ratio.tunnel).toFixed(3)} (${list(ratio.tunnel, 3)}), ` +
      `pipes ${med(ratio.pipes).toFixed(3)} (${list(ratio.pipes, 3)}); ` +
      `tunnel to pipes ${med(ratio.tunnelToPipes).toFixed(3)} (${list(ratio.tunnelToPipes, 3)})`,
  );
  console.log(
    `CPU per MiB: relay ${cpu(cpuMs.tunnel[0]!)}, peer ${cpu(cpuMs.tunnel[1]!)}; ` +
      `pipe next to curl ${cpu(cpuMs.pipes[0]!)}, pipe next to the server ${cpu(cpuMs.pipes[1]!)}`,
  );
  console.log(
    `write syscalls per MiB: relay ${wr(writes.tunnel[0]!)}, peer ${wr(writes.tunnel[1]!)}; ` +
      `pipe next to curl ${wr(writes.pipes[0]!)}, pipe next to the server ${wr(writes.pipes[1]!)}`,
  );
  const pct = (v: number[]) => `${(med(v) * 100).toFixed(0)}%`;
  console.log(
    `CPU: idle ${pct(idle.direct)} of the machine direct, ${pct(idle.tunnel)} through the tunnel` +
      (goal === undefined ? "" : `; ${describeBudgets(budgets, goal, CORES, "MiB", 1e3, "ms", med)}`),
  );
} finally {
  for (const h of hops) await h.stop();
  await env.close();
  file?.remove();
}
