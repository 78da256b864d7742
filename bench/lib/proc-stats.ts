/** CPU time and resident memory of a process, read from /proc (Linux). */
import { readFileSync } from "node:fs";

/** Clock ticks per second for /proc/<pid>/stat times; 100 on Linux for every common build. */
const CLK_TCK = 100;

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.system;
}

/** CPU seconds the process has used so far in user space and in the kernel (its syscalls). */
export function cpuTimes(pid: number): { user: number; system: number } {
  const stat = readProc(pid, "stat");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime is field 14 and stime field 15.
  return { user: Number(rest[11]) / CLK_TCK, system: Number(rest[12]) / CLK_TCK };
}

/** CPU seconds between two `cpuTimes` readings, and the kernel's part of them. */
export function cpuSince(
  a: { user: number; system: number },
  b: { user: number; system: number },
): { all: number; system: number } {
  return { all: b.user + b.system - a.user - a.system, system: b.system - a.system };
}

/**
 * CPU seconds of the whole machine so far, summed over its cores (the first line of /proc/stat):
 * `idle` counts idle and I/O wait, `busy` everything else (user, nice, system, interrupts, steal).
 */
export function machineCpu(): { busy: number; idle: number } {
  return parseCpuLine(readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!);
}

/**
 * The `cpu` line of /proc/stat in seconds: user nice system idle iowait irq softirq steal guest
 * guest_nice, in clock ticks. Guest time is already inside user and nice, so only the first eight add up.
 */
export function parseCpuLine(line: string): { busy: number; idle: number } {
  const t = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (!line.startsWith("cpu") || t.length < 4 || t.some((v) => !Number.isFinite(v)))
    throw new Error(`not a /proc/stat cpu line: ${line}`);
  const idle = t[3]! + (t[4] ?? 0);
  const all = t.reduce((a, b) => a + b, 0);
  return { busy: (all - idle) / CLK_TCK, idle: idle / CLK_TCK };
}

/** Write syscalls (write, writev, ...) the process has made so far: `syscw` in /proc/<pid>/io. */
export function writeSyscalls(pid: number): number {
  const m = /^syscw: (\d+)/m.exec(readProc(pid, "io"));
  if (!m) throw new Error(`no syscw for pid ${pid}`);
  return Number(m[1]);
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readProc(pid, "status");
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Samples the RSS of some processes every `everyMs` and keeps the peak of each until stopped. */
export function sampleRss(pids: number[], everyMs = 50): { stop(): number[] } {
  const peaks = pids.map((p) => rssBytes(p));
  const take = () => {
    pids.forEach((p, i) => {
      try {
        peaks[i] = Math.max(peaks[i]!, rssBytes(p));
      } catch {
        // The process is gone; keep the peak seen so far.
      }
    });
  };
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return peaks;
    },
  };
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    throw new Error(`process ${pid} is gone (no /proc/${pid}/${file})`);
  }
}
