/**
 * Where a process's CPU goes, from `perf record -g` samples: the kernel, our own code by folder,
 * Node's runtime (streams and sockets, timers, libuv and other native code), Buffer and crypto
 * helpers, npm packages, and the garbage collector.
 *
 * A sample whose innermost frame is in the kernel counts as kernel time, whoever made the syscall.
 * Any other sample counts for the innermost JavaScript frame on its stack (V8 builtins and C++ called
 * from a function are that function's cost); one with no JavaScript frame is the garbage collector's
 * when a frame names the heap, and native otherwise (libuv's loop, Node's C++). The processes must run
 * with `--perf-basic-prof`, so that perf can name JIT-compiled functions.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

/** The groups a sample can fall in, in the order they are printed. */
export const GROUPS = ["kernel", "ours", "node runtime", "node buffer and crypto", "packages", "gc"] as const;
export type Group = (typeof GROUPS)[number];

/** Sample counts of one process: by group, and by finer category (`ours: relay`, `node: writable`). */
export interface Split {
  samples: number;
  groups: Record<Group, number>;
  categories: Map<string, number>;
}

/** Node's own JavaScript modules that are helpers our code calls, not the event loop's machinery. */
const NODE_HELPERS = new Set(["buffer", "random", "crypto", "util", "validators", "errors"]);

/** The group and category of one sample, given its frames innermost first as `symbol (dso)` pairs. */
export function classify(frames: ReadonlyArray<readonly [string, string]>): [Group, string] {
  if (frames.length === 0) return ["node runtime", "native: unknown"];
  if (frames[0]![1].includes("kernel")) return ["kernel", "kernel"];
  for (const [sym] of frames) {
    if (!sym.startsWith("JS:")) continue;
    const pkg = /node_modules\/((?:@[\w.-]+\/)?[\w.-]+)\//.exec(sym);
    if (pkg) return ["packages", `package: ${pkg[1]}`];
    const dist = /\/dist\/([\w-]+)\//.exec(sym);
    if (dist) return ["ours", `ours: ${dist[1]}`];
    const mod = /node:(?:internal\/)?(?:[\w/]+\/)?([\w_]+)/.exec(sym);
    if (mod) {
      const name = mod[1]!;
      return [NODE_HELPERS.has(name) ? "node buffer and crypto" : "node runtime", `node: ${name}`];
    }
    return ["node runtime", "js: other"];
  }
  if (
    frames.some(([sym]) =>
      /Heap|Scaveng|Sweep|Marking|MarkCompact|Evacuat|GCTracer|Minor|Compactor/.test(sym),
    )
  )
    return ["gc", "gc"];
  return ["node runtime", "native"];
}

/**
 * Reads `perf script -F pid,ip,sym,dso` output line by line and splits the samples of `pids` (other
 * processes' samples are skipped).
 */
export class SampleSplitter {
  private readonly splits = new Map<number, Split>();
  private pid: number | undefined;
  private frames: Array<[string, string]> = [];

  constructor(pids: readonly number[]) {
    for (const p of pids) {
      const groups = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<Group, number>;
      this.splits.set(p, { samples: 0, groups, categories: new Map() });
    }
  }

  line(text: string): void {
    if (text.trim() === "") return this.endSample();
    if (text.startsWith("\t")) {
      if (this.pid === undefined) return;
      // "<ip> <symbol> (<dso>)"; the symbol may hold spaces and parentheses of its own.
      const m = /^\s*[0-9a-f]+\s+(.*)\s+\(([^()]*)\)\s*$/.exec(text);
      if (m) this.frames.push([m[1]!.replace(/\+0x[0-9a-f]+$/, ""), m[2]!]);
      return;
    }
    this.endSample();
    const pid = Number(text.trim().split(/\s+/)[0]);
    this.pid = this.splits.has(pid) ? pid : undefined;
  }

  /** The splits, by pid (call after the last line). */
  result(): Map<number, Split> {
    this.endSample();
    return this.splits;
  }

  private endSample(): void {
    if (this.pid !== undefined) {
      const s = this.splits.get(this.pid)!;
      const [group, category] = classify(this.frames);
      s.samples++;
      s.groups[group]++;
      s.categories.set(category, (s.categories.get(category) ?? 0) + 1);
    }
    this.pid = undefined;
    this.frames = [];
  }
}

/** Starts `perf record -g` on some processes; `stop()` ends it and waits for the file. */
export function recordPerf(pids: readonly number[], file: string, hz = 249): { stop(): Promise<void> } {
  const child: ChildProcess = spawn(
    "perf",
    ["record", "-g", "-F", String(hz), "-p", pids.join(","), "-o", file, "--quiet"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = once(child, "exit");
  const failed = once(child, "error").then(([err]) => {
    throw (err as NodeJS.ErrnoException).code === "ENOENT"
      ? new Error("perf is not installed: run `bash scripts/setup-system.sh` (Debian package linux-perf)")
      : err;
  });
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      await Promise.race([exited, failed]);
      if (child.exitCode !== 0 && child.exitCode !== null)
        throw new Error(`perf record exited with ${child.exitCode}: ${stderr.trim()}`);
    },
  };
}

/** Splits the samples of `pids` in some perf data files together (`perf script`, read as it is written). */
export async function splitPerfFiles(
  files: readonly string[],
  pids: readonly number[],
): Promise<Map<number, Split>> {
  const splitter = new SampleSplitter(pids);
  for (const file of files) {
    const child = spawn("perf", ["script", "-i", file, "-F", "pid,ip,sym,dso"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const closed = once(child, "close");
    for await (const line of createInterface({ input: child.stdout!, crlfDelay: Infinity }))
      splitter.line(line);
    splitter.line("");
    const [code] = await closed;
    if (code !== 0) throw new Error(`perf script -i ${file} exited with ${code}`);
  }
  return splitter.result();
}

/**
 * One line for a process: its CPU per unit (`perUnit`, already scaled and suffixed by the caller's
 * `fmt`) split by group, with our folders named.
 */
export function describeSplit(name: string, s: Split, perUnit: number, fmt: (v: number) => string): string {
  if (s.samples === 0) return `${name}: no samples`;
  const part = (n: number) => fmt((perUnit * n) / s.samples);
  const ours = [...s.categories]
    .filter(([c]) => c.startsWith("ours: "))
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c.slice(6)} ${part(n)}`)
    .join(", ");
  const groups = GROUPS.filter((g) => s.groups[g] > 0).map(
    (g) => `${g} ${part(s.groups[g])}${g === "ours" && ours ? ` (${ours})` : ""}`,
  );
  return `${name} ${fmt(perUnit)}: ${groups.join(", ")} [${s.samples} samples]`;
}
