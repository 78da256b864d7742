/** What the figures were measured on: the machine, Node and the git commit. */
import { execFileSync } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
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

/**
 * Fixed work timed once before the first scenario, so results files from different days can be
 * told apart when the machine itself ran slower (these machines share their hosts). No figure uses
 * it. Each is the best of three tries.
 */
export interface SpeedCheck {
  /** Milliseconds for 20 million steps of a 32-bit xorshift: the CPU on plain JavaScript. */
  jsLoopMs: number;
  /** Microseconds per 1-byte `write` to /dev/null: the cost of entering the kernel. */
  syscallUs: number;
  /** Microseconds per 1-byte echo over loopback TCP, both ends in this process: wake-ups and the stack. */
  loopbackRoundTripUs: number;
}

export async function speedCheck(): Promise<SpeedCheck> {
  const best = async (f: () => number | Promise<number>) => Math.min(await f(), await f(), await f());
  const jsLoopMs = await best(() => {
    const t0 = performance.now();
    let x = 2463534242;
    for (let i = 0; i < 20_000_000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
    }
    if (x === 0) throw new Error("unreachable: xorshift never reaches 0");
    return performance.now() - t0;
  });
  const syscallUs = await best(() => {
    const fd = openSync("/dev/null", "w");
    const one = Buffer.alloc(1);
    const n = 100_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) writeSync(fd, one);
    const us = ((performance.now() - t0) * 1000) / n;
    closeSync(fd);
    return us;
  });
  const loopbackRoundTripUs = await best(() => echoRoundTrips(2_000));
  const r = (v: number) => Math.round(v * 100) / 100;
  return { jsLoopMs: r(jsLoopMs), syscallUs: r(syscallUs), loopbackRoundTripUs: r(loopbackRoundTripUs) };
}

/** Microseconds per round trip of one byte, `n` times in a row, over a loopback connection. */
function echoRoundTrips(n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true }, (s) => s.on("data", (d) => s.write(d)));
    server.listen(0, "127.0.0.1", () => {
      const client = connect({
        port: (server.address() as AddressInfo).port,
        host: "127.0.0.1",
        noDelay: true,
      });
      let left = n;
      let t0 = 0;
      client.on("error", reject);
      client.on("connect", () => {
        t0 = performance.now();
        client.write("x");
      });
      client.on("data", () => {
        if (--left > 0) return void client.write("x");
        const us = ((performance.now() - t0) * 1000) / n;
        client.destroy();
        server.close(() => resolve(us));
      });
    });
  });
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
