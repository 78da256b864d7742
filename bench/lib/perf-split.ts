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
const NODE_HELPER = /^node:(?:internal\/)?(?:buffer|crypto|util|validators|errors)\b/;

/** x86-64 and arm64 kernels live in the upper half of the address space. */
const KERNEL_SPACE = 0xffff800000000000n;

/** One stack frame as perf names it: symbol, object (dso) and, when known, the address. */
export type Frame = readonly [symbol: string, dso: string, ip?: bigint];

/** Whether a frame runs in the kernel: the kernel image, a module (`[veth]`), or an unnamed kernel address. */
function inKernel([, dso, ip]: Frame): boolean {
  if (dso.includes("kernel")) return true;
  if (ip !== undefined && ip >= KERNEL_SPACE) return true;
  // Modules appear as `[name]`; `[vdso]`, `[unknown]` and perf's `[JIT] tid N` are user space.
  return /^\[[\w-]+\]$/.test(dso) && dso !== "[vdso]" && dso !== "[unknown]" && dso !== "[vsyscall]";
}

/** The group and category of one sample, given its frames innermost first. */
export function classify(frames: readonly Frame[]): [Group, string] {
  if (frames.length === 0) return ["node runtime", "native: unknown"];
  if (inKernel(frames[0]!)) return ["kernel", "kernel"];
  for (const [sym] of frames) {
    if (!sym.startsWith("JS:")) continue;
    const pkg = /node_modules\/((?:@[\w.-]+\/)?[\w.-]+)\//.exec(sym);
    if (pkg) return ["packages", `package: ${pkg[1]}`];
    const dist = /\/dist\/([\w-]+)\//.exec(sym);
    if (dist) return ["ours", `ours: ${dist[1]}`];
    const mod = /node:(?:internal\/)?(?:[\w/]+\/)?([\w_]+)/.exec(sym);
    if (mod) {
      const path = /node:[\w/]+/.exec(sym)![0];
      return [NODE_HELPER.test(path) ? "node buffer and crypto" : "node runtime", `node: ${mod[1]}`];
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
  private frames: Frame[] = [];

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
      const m = /^\s*([0-9a-f]+)\s+(.*)\s+\(([^()]*)\)\s*$/.exec(text);
      if (m) this.frames.push([m[2]!.replace(/\+0x[0-9a-f]+$/, ""), m[3]!, BigInt(`0x${m[1]}`)]);
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

const NO_PERF = "perf is not installed: run `bash scripts/setup-system.sh` (Debian package linux-perf)";

/** The end of a child process: its exit code, or the spawn error (perf missing) as an Error. */
function ended(child: ChildProcess): Promise<number | null> {
  const done = new Promise<number | null>((resolve, reject) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "ENOENT" ? new Error(NO_PERF) : err),
    );
  });
  // Seen by whoever awaits it later; never an unhandled rejection in the meantime.
  done.catch(() => {});
  return done;
}

/** Throws a one-line message unless `perf` runs here. */
export async function checkPerf(): Promise<void> {
  const child = spawn("perf", ["--version"], { stdio: "ignore" });
  const code = await ended(child);
  if (code !== 0) throw new Error(`\`perf --version\` exited with ${code}`);
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
  const done = ended(child);
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
      const code = await done;
      if (code !== 0 && code !== null) throw new Error(`perf record exited with ${code}: ${stderr.trim()}`);
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
