/** What the figures were measured on: the machine, Node and the git commit. */
import { execFileSync } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  node: string;
  platform: string;
  memoryMiB: number;
  /** 1-minute load average when the suite started; other work on the machine shows here. */
  loadAverage1m: number;
}

export interface GitInfo {
  commit: string;
  /** True when tracked files differ from the commit (the figures then include those changes). */
  dirty: boolean;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}

export function gitInfo(cwd: string): GitInfo {
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    return {
      commit: git("rev-parse", "HEAD"),
      dirty: git("status", "--porcelain", "--untracked-files=no") !== "",
    };
  } catch {
    return { commit: "unknown", dirty: false };
  }
}
