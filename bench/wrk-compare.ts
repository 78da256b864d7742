/**
 * Scenario 1's 1 KiB GET, direct and through the tunnel, with wrk as the load generator instead of
 * autocannon: the issue's figures for other tunnels were taken with wrk, and a load generator's own
 * cost per request is part of every ratio, so this is the one to hold against them.
 *
 *   npm run build && npx tsx bench/wrk-compare.ts [--runs 5] [--connections 16,128] [--seconds 3] [--idle 10]
 *     [--tunnels N] [--pipes] [--headed] [--target R] [--perf]
 *
 * Same processes as the suite (bench/lib/env.ts: local server, relay, one peer; plain yamux). wrk
 * runs with one thread. For each connection count: one uncounted run each way, then `--runs`
 * alternating pairs (direct first on even runs). Prints the median of req/s and p99 each way, the
 * median of the per-pair ratios, the relay's and the peer's CPU time per request, the local
 * server's (through the tunnel and direct), and the relay's GC work per request (its /metrics:
 * prom-client's nodejs_gc_duration_seconds). The local server does the same work for every request
 * whatever is in front of it, so its CPU per request tracks how fast the machine is running: on a
 * noisy VM, compare the relay's and the peer's figures as multiples of it.
 *
 * `--tunnels N` (N > 1) runs the tunnel side as scenario 4 does: one bench process holds N tunnels
 * (bench/procs/many-peer.ts) and every request goes to a random agent (a wrk Lua script), so no two
 * requests in a row share a tunnel and nothing batches across requests: a relay serving many agents.
 *
 * `--pipes` adds a third way: two bare Node pipes in a row in front of the local server
 * (bench/procs/pipe-hop.ts), the tunnel's shape without its framing. Their ratio to direct is a
 * reference for what a relay and a peer written in Node can do on this machine (not a hard limit:
 * a tunnel batches writes across streams, which they cannot); it prints their req/s, p99 and CPU
 * per request after the tunnel's line. Rounds are then triples, in an order that changes from
 * round to round (bench/lib/rounds.ts).
 *
 * `--headed` adds another way: direct, but with every header field the local server receives through
 * the tunnel (the relay's X-Forwarded-* and X-Request-Id, the peer's X-Agent-*, read once from the
 * local server's /head through the tunnel). Parsing those fields is work the local server does only
 * behind the tunnel, so this way splits the ratio in two: what the fields cost the local server
 * (its ratio to direct), and what the tunnel costs beyond them (tunnel ÷ this way).
 *
 * For every connection count it also prints how much of the machine sat idle each way, and for a
 * target ratio (issue 11's 0.55 at 16 connections and 0.60 at 128, or `--target R` for every count)
 * the CPU budget it leaves the relay and the peer (bench/lib/budget.ts) next to what they took.
 * `--perf` records the relay and the peer with `perf record -g` during the counted tunnel runs (they
 * run with `--perf-basic-prof`) and splits their CPU per request into the kernel, our code by folder,
 * Node's runtime, Buffer and crypto helpers, npm packages and the GC (bench/lib/perf-split.ts).
 *
 * `--idle` waits that many seconds after the warm-up runs, as a relay between bursts does: after
 * about 8 s V8's memory reducer runs a full GC, which tenures whatever the process holds then (see
 * bench/gc-churn.ts for what that does to a churned Map or Set).
 */
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { flags } from "./lib/args.ts";
import { type Budget, budget, describeBudgets, idleShare, type RunCpu } from "./lib/budget.ts";
import { startTunnelEnv } from "./lib/env.ts";
import { checkPerf, describeSplit, recordPerf, splitPerfFiles } from "./lib/perf-split.ts";
import { cpuSeconds, cpuSince, cpuTimes, machineCpu } from "./lib/proc-stats.ts";
import {
  addTunnelFlags,
  type Proc,
  startLocalServer,
  startManyPeer,
  startPipes,
  startRelay,
  stopAll,
  tempDir,
} from "./lib/procs.ts";
import { roundOrder } from "./lib/rounds.ts";
import { summarize } from "./lib/stats.ts";
import type { Target } from "./load/http-client.ts";

const run = promisify(execFile);

const args = flags("wrk-compare");
const runs = args.number("runs", 5, true);
const counts = args.numbers("connections", [16, 128]);
const seconds = args.number("seconds", 3, true);
const idleS = args.text("idle") === undefined ? 0 : args.number("idle", 0);
const tunnels = args.number("tunnels", 1, true);
const withPipes = args.has("pipes");
const withHeaded = args.has("headed");
/** Issue 11's targets for the ratio to direct, by connection count; `--target` sets one for all. */
const ISSUE_TARGETS: Record<number, number> = { 16: 0.55, 128: 0.6 };
const targetFlag = args.text("target") === undefined ? undefined : args.number("target", 0);
const CORES = availableParallelism();
const withPerf = args.has("perf");
if (withPerf) {
  await checkPerf();
  // perf names JIT-compiled functions from the map files this flag has Node write (/tmp/perf-<pid>.map).
  addTunnelFlags("--perf-basic-prof");
}

interface WrkResult {
  reqPerS: number;
  p99Ms: number;
  requests: number;
}

const UNIT_MS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3 };

/**
 * Where wrk sends: a Host header, or a Lua script that picks one per request; `headers` are sent
 * with every request as well (name, value, name, value, ...).
 */
type WrkTarget = Target & { script?: string; headers?: readonly string[] };

async function wrk(t: WrkTarget, connections: number, durationS: number): Promise<WrkResult> {
  const host = t.script ? ["-s", t.script] : t.host ? ["-H", `Host: ${t.host}`] : [];
  const extra = t.headers ?? [];
  for (let i = 0; i < extra.length; i += 2) host.push("-H", `${extra[i]}: ${extra[i + 1]}`);
  const url = `http://127.0.0.1:${t.port}/small`;
  let out: string;
  try {
    ({ stdout: out } = await run(
      "wrk",
      ["-t1", `-c${connections}`, `-d${durationS}s`, "--latency", ...host, url],
      {
        timeout: (durationS + 10) * 1000,
      },
    ));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new Error("wrk is not installed: run `bash scripts/setup-system.sh` (Debian package wrk)");
    throw err;
  }
  const requests = /(\d+) requests in/.exec(out);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  if (!requests || !rate || !p99) throw new Error(`unexpected wrk output:\n${out}`);
  if (/Non-2xx|Socket errors/.test(out)) throw new Error(`wrk saw errors:\n${out}`);
  return {
    reqPerS: Number(rate[1]),
    p99Ms: Number(p99[1]) * UNIT_MS[p99[2]!]!,
    requests: Number(requests[1]),
  };
}

interface GcTotals {
  major: number;
  seconds: number;
}

/** The relay's GC counts so far, from its /metrics. */
async function relayGc(metricsPort: number): Promise<GcTotals> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const total = { major: 0, seconds: 0 };
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) {
    if (m[1] === "sum") total.seconds += Number(m[3]);
    else if (m[2] === "major") total.major += Number(m[3]);
  }
  return total;
}

interface Env {
  direct: WrkTarget;
  tunnel: WrkTarget;
  relay: Proc;
  peer: Proc;
  local: Proc;
  check(): void;
  close(): Promise<void>;
}

const METRICS = ["--metrics-listen", "127.0.0.1:0"];

/** Local server, relay and one bench process holding `n` tunnels; wrk picks an agent per request. */
async function startManyEnv(n: number): Promise<Env> {
  const dir = tempDir("wrk-many");
  try {
    const [local, relay] = await Promise.all([startLocalServer(), startRelay(0, METRICS)]);
    const peer = startManyPeer();
    await peer.ready;
    const open = await peer.call<{ hosts: string[]; connected: number }>("open", {
      relayUrl: `ws://127.0.0.1:${relay.port}`,
      target: `http://127.0.0.1:${local.port}`,
      count: n,
      concurrency: 32,
      secureChannel: "never",
      timeoutMs: 120_000 + n * 50,
    });
    if (open.connected !== n) throw new Error(`only ${open.connected} of ${n} tunnels connected`);
    const script = join(dir.path, "random-agent.lua");
    writeFileSync(
      script,
      `local hosts = {${open.hosts.map((h) => JSON.stringify(h)).join(",")}}\n` +
        `request = function() return wrk.format("GET", nil, { Host = hosts[math.random(#hosts)] }) end\n`,
    );
    const procs = [local.proc, relay.proc, peer];
    return {
      direct: { port: local.port },
      tunnel: { port: relay.port, host: open.hosts[0], script },
      relay: relay.proc,
      peer,
      local: local.proc,
      check: () => {
        for (const p of procs) p.assertRunning();
      },
      close: async () => {
        await stopAll();
        dir.remove();
      },
    };
  } catch (err) {
    await stopAll();
    dir.remove();
    throw err;
  }
}

type Way = "direct" | "tunnel" | "pipes" | "headed";

/**
 * The header fields the local server receives through the tunnel, less Host (wrk sends its own):
 * the local server's /head, asked through the tunnel once.
 */
function tunnelHeaders(t: WrkTarget): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = get(
      { host: "127.0.0.1", port: t.port, path: "/head", headers: { host: t.host }, agent: false },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          if (res.statusCode !== 200)
            return reject(new Error(`/head through the tunnel: ${res.statusCode} ${text}`));
          const raw = JSON.parse(text) as string[];
          const out: string[] = [];
          for (let i = 0; i < raw.length; i += 2)
            if (raw[i]!.toLowerCase() !== "host") out.push(raw[i]!, raw[i + 1]!);
          resolve(out);
        });
      },
    );
    req.on("error", reject);
  });
}

const env: Env = tunnels > 1 ? await startManyEnv(tunnels) : await startTunnelEnv({ relayArgs: METRICS });
const hops: Proc[] = [];
const perfDir = withPerf ? tempDir("perf") : undefined;
try {
  let pipes: WrkTarget | undefined;
  if (withPipes) {
    pipes = { port: (await startPipes(env.direct.port, hops)).port };
  }
  let headed: WrkTarget | undefined;
  if (withHeaded) {
    const headers = await tunnelHeaders(env.tunnel);
    headed = { ...env.direct, headers };
    console.log(
      `fields the local server receives through the tunnel: ${headers.filter((_, i) => i % 2 === 0).join(", ")}`,
    );
  }
  const ways: Way[] = ["direct", "tunnel"];
  if (pipes) ways.push("pipes");
  if (headed) ways.push("headed");
  const targets: Partial<Record<Way, WrkTarget>> = { direct: env.direct, tunnel: env.tunnel, pipes, headed };
  const target = (way: Way) => targets[way]!;
  const metricsPort = Number((await env.relay.waitForOutput(/metrics on [^;\s]+:(\d+)/, 5000)).match[1]);
  console.log(
    `wrk -t1, ${seconds} s per run, median of ${runs} ${ways.length > 2 ? `rounds of ${ways.length}` : "alternating pairs"}` +
      (tunnels > 1 ? `, a random agent of ${tunnels} per request` : "") +
      (idleS > 0 ? `, ${idleS} s idle after the warm-up` : ""),
  );
  for (const c of counts) {
    for (const way of ways) await wrk(target(way), c, 1); // uncounted warm-up, each way
    if (idleS > 0) await new Promise((resolve) => setTimeout(resolve, idleS * 1000));
    const rate: Record<Way, number[]> = { direct: [], tunnel: [], pipes: [], headed: [] };
    const p99: Record<Way, number[]> = { direct: [], tunnel: [], pipes: [], headed: [] };
    const pipesRatio: number[] = [];
    const pipesCpuUs: number[] = [];
    const headedRatio: number[] = [];
    const tunnelToHeaded: number[] = [];
    const localHeaded: number[] = [];
    const ratio: number[] = [];
    const p99Ratio: number[] = [];
    const cpuUs = {
      relay: [] as number[],
      peer: [] as number[],
      local: [] as number[],
      localDirect: [] as number[],
    };
    const gc = { majorPer10k: [] as number[], usPerRequest: [] as number[] };
    const idle = { direct: [] as number[], tunnel: [] as number[] };
    const goal = targetFlag ?? ISSUE_TARGETS[c];
    const budgets: Budget[] = [];
    const perfFiles: string[] = [];
    for (let r = 0; r < runs; r++) {
      const pair: Partial<Record<Way, WrkResult>> = {};
      const spent: Partial<Record<Way, RunCpu>> = {};
      for (const via of roundOrder(ways, r)) {
        const relay0 = cpuTimes(env.relay.pid);
        const peer0 = cpuTimes(env.peer.pid);
        const local0 = cpuSeconds(env.local.pid);
        const hops0 = hops.reduce((sum, h) => sum + cpuSeconds(h.pid), 0);
        const gc0 = await relayGc(metricsPort);
        const perfFile = perfDir && via === "tunnel" ? join(perfDir.path, `${c}-${r}.data`) : undefined;
        const perf = perfFile ? recordPerf([env.relay.pid, env.peer.pid], perfFile) : undefined;
        const machine0 = machineCpu();
        let w: WrkResult;
        try {
          w = await wrk(target(via), c, seconds);
        } finally {
          await perf?.stop();
        }
        const machine1 = machineCpu();
        if (perfFile) perfFiles.push(perfFile);
        const relay = cpuSince(relay0, cpuTimes(env.relay.pid));
        const peer = cpuSince(peer0, cpuTimes(env.peer.pid));
        if (via === "pipes")
          pipesCpuUs.push(((hops.reduce((sum, h) => sum + cpuSeconds(h.pid), 0) - hops0) / w.requests) * 1e6);
        if (via === "tunnel") {
          const gc1 = await relayGc(metricsPort);
          gc.majorPer10k.push(((gc1.major - gc0.major) / w.requests) * 1e4);
          gc.usPerRequest.push(((gc1.seconds - gc0.seconds) / w.requests) * 1e6);
          cpuUs.relay.push((relay.all / w.requests) * 1e6);
          cpuUs.peer.push((peer.all / w.requests) * 1e6);
        }
        const localS = cpuSeconds(env.local.pid) - local0;
        const localUs = (localS / w.requests) * 1e6;
        spent[via] = {
          units: w.requests,
          busy: machine1.busy - machine0.busy,
          idle: machine1.idle - machine0.idle,
          local: localS,
          tunnel: { all: relay.all + peer.all, system: relay.system + peer.system },
        };
        if (via === "tunnel") cpuUs.local.push(localUs);
        else if (via === "direct") cpuUs.localDirect.push(localUs);
        else if (via === "headed") localHeaded.push(localUs);
        pair[via] = w;
        rate[via].push(w.reqPerS);
        p99[via].push(w.p99Ms);
      }
      ratio.push(pair.tunnel!.reqPerS / pair.direct!.reqPerS);
      idle.direct.push(idleShare(spent.direct!));
      idle.tunnel.push(idleShare(spent.tunnel!));
      if (goal !== undefined)
        budgets.push(budget(spent.tunnel!, spent.direct!, goal * pair.direct!.reqPerS, CORES));
      p99Ratio.push(pair.tunnel!.p99Ms / pair.direct!.p99Ms);
      if (pair.pipes) pipesRatio.push(pair.pipes.reqPerS / pair.direct!.reqPerS);
      if (pair.headed) {
        headedRatio.push(pair.headed.reqPerS / pair.direct!.reqPerS);
        tunnelToHeaded.push(pair.tunnel!.reqPerS / pair.headed.reqPerS);
      }
    }
    env.check();
    for (const h of hops) h.assertRunning();
    const med = (v: number[]) => summarize(v).median;
    console.log(
      `${c} connections: direct ${Math.round(med(rate.direct)).toLocaleString("en")} req/s, ` +
        `tunnel ${Math.round(med(rate.tunnel)).toLocaleString("en")} req/s, ratio ${med(ratio).toFixed(3)}; ` +
        `p99 direct ${med(p99.direct).toFixed(2)} ms, tunnel ${med(p99.tunnel).toFixed(2)} ms, ` +
        `ratio ${med(p99Ratio).toFixed(2)}; CPU per request: relay ${med(cpuUs.relay).toFixed(1)} us, ` +
        `peer ${med(cpuUs.peer).toFixed(1)} us, local server ${med(cpuUs.local).toFixed(1)} us ` +
        `(${med(cpuUs.localDirect).toFixed(1)} us direct); relay GC: ${med(gc.majorPer10k).toFixed(2)} full GCs per ` +
        `10k requests, ${med(gc.usPerRequest).toFixed(1)} us per request`,
    );
    const pct = (v: number[]) => `${(med(v) * 100).toFixed(0)}%`;
    // With every connection always waiting on one request, the mean latency is connections ÷ rate
    // (Little's law), so the p99 ratio is the rate ratio's inverse times the ratio of the tails.
    const tail = (way: Way) => med(p99[way].map((p, i) => p / ((c / rate[way][i]!) * 1e3)));
    console.log(
      `${c} connections, latency: mean (connections ÷ rate) direct ${((c / med(rate.direct)) * 1e3).toFixed(2)} ms, ` +
        `tunnel ${((c / med(rate.tunnel)) * 1e3).toFixed(2)} ms; p99 ÷ mean direct ${tail("direct").toFixed(2)}, ` +
        `tunnel ${tail("tunnel").toFixed(2)}`,
    );
    console.log(
      `${c} connections, CPU: idle ${pct(idle.direct)} of the machine direct, ${pct(idle.tunnel)} through the ` +
        `tunnel${goal === undefined ? "" : `; ${describeBudgets(budgets, goal, CORES, "request", 1e6, "us", med)}`}`,
    );
    if (perfFiles.length > 0) {
      const split = await splitPerfFiles(perfFiles, [env.relay.pid, env.peer.pid]);
      const fmt = (v: number) => `${v.toFixed(1)} us`;
      for (const [name, pid, cpu] of [
        ["relay", env.relay.pid, cpuUs.relay],
        ["peer", env.peer.pid, cpuUs.peer],
      ] as const) {
        const s = split.get(pid)!;
        console.log(`${c} connections, perf: ${describeSplit(name, s, med(cpu), fmt)}`);
        // perf falls back to user space alone when it may not sample the kernel (perf_event_paranoid).
        if (s.samples > 0 && s.groups.kernel === 0)
          console.log(`  (no kernel samples for the ${name}: the split leaves out its syscalls)`);
      }
    }
    if (pipes)
      console.log(
        `${c} connections, two bare pipes: ${Math.round(med(rate.pipes)).toLocaleString("en")} req/s, ` +
          `ratio ${med(pipesRatio).toFixed(3)}; p99 ${med(p99.pipes).toFixed(2)} ms; ` +
          `CPU per request, both pipes: ${med(pipesCpuUs).toFixed(1)} us`,
      );
    if (headed)
      console.log(
        `${c} connections, direct with the tunnel's ${(headed.headers?.length ?? 0) / 2} header fields: ` +
          `${Math.round(med(rate.headed)).toLocaleString("en")} req/s, ratio ${med(headedRatio).toFixed(3)}; ` +
          `local server ${med(localHeaded).toFixed(1)} us per request; tunnel ÷ this ${med(tunnelToHeaded).toFixed(3)}`,
      );
  }
} finally {
  for (const h of hops) await h.stop();
  const pids = [env.relay.pid, env.peer.pid];
  await env.close();
  if (perfDir) {
    perfDir.remove();
    // V8 writes them to /tmp whatever TMPDIR says.
    for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
  }
}
