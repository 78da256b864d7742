/**
 * The bench's CPU budget (bench/lib/budget.ts) and the /proc readings it is fed from
 * (bench/lib/proc-stats.ts).
 */
import { describe, expect, it } from "vitest";
import { budget, describeBudgets, idleShare } from "../bench/lib/budget.ts";
import { cpuSeconds, cpuSince, cpuTimes, machineCpu, parseCpuLine } from "../bench/lib/proc-stats.ts";

describe("budget", () => {
  // Direct: 20,000 requests with the machine busy 1.0 s, 0.6 s of it the local server's.
  const direct = { units: 20_000, busy: 1.0, idle: 1.0, local: 0.6 };
  // Through the tunnel: 10,000 requests, busy 1.5 s and idle 0.5 s; the relay and the peer took
  // 0.8 s (0.3 s in the kernel), the local server 0.4 s.
  const tunnel = { units: 10_000, busy: 1.5, idle: 0.5, local: 0.4, tunnel: { all: 0.8, system: 0.3 } };
  const us = (s: number) => s * 1e6;

  it("leaves the relay and the peer what the cores give at the target rate, less the local server and the load", () => {
    const b = budget(tunnel, direct, 20_000, 2);
    expect(us(b.atTarget)).toBeCloseTo(100, 9); // 2 cores at 20,000 req/s
    expect(us(b.local)).toBeCloseTo(40, 9); // 0.4 s over 10,000, from the tunnel run
    expect(us(b.load)).toBeCloseTo(20, 9); // (1.0 - 0.6) s over 20,000, from the direct run
    expect(us(b.left)).toBeCloseTo(40, 9);
    expect(us(b.tunnel)).toBeCloseTo(80, 9);
    expect(us(b.tunnelSystem)).toBeCloseTo(30, 9);
    // 150 us busy per request in the tunnel run: 80 + 40 + 20 accounted for.
    expect(us(b.unattributed)).toBeCloseTo(10, 9);
    expect(idleShare(tunnel)).toBeCloseTo(0.25, 12);
    expect(idleShare(direct)).toBeCloseTo(0.5, 12);
  });

  it("goes negative when the local server and the load alone need more than the cores give", () => {
    expect(budget(tunnel, direct, 40_000, 2).left).toBeCloseTo(50e-6 - 40e-6 - 20e-6, 12);
  });

  it("refuses a run with no units, a zero target, no cores or no tunnel times", () => {
    expect(() => budget({ ...tunnel, units: 0 }, direct, 100, 2)).toThrow(RangeError);
    expect(() => budget(tunnel, direct, 0, 2)).toThrow(RangeError);
    expect(() => budget(tunnel, direct, 100, 0)).toThrow(RangeError);
    expect(() => budget(direct, direct, 100, 2)).toThrow(RangeError);
  });

  it("describes the medians in the unit asked for", () => {
    const line = describeBudgets(
      [budget(tunnel, direct, 20_000, 2)],
      0.55,
      2,
      "request",
      1e6,
      "us",
      (v) => v[0]!,
    );
    expect(line).toContain("2 cores give 100.0 us per request");
    expect(line).toContain("at most 40.0 us");
    expect(line).toContain("they took 80.0 us, 30.0 us of it in the kernel");
  });
});

describe("proc-stats", () => {
  it("reads /proc/stat's cpu line: idle and I/O wait as idle, guest time counted once (inside user)", () => {
    // user nice system idle iowait irq softirq steal guest guest_nice, in 1/100 s.
    const t = parseCpuLine("cpu  1000 10 500 3000 40 5 200 15 300 7");
    expect(t.idle).toBeCloseTo(30.4, 9);
    expect(t.busy).toBeCloseTo(17.3, 9); // 1000 + 10 + 500 + 5 + 200 + 15, without guest's 307
    expect(() => parseCpuLine("intr 1 2 3")).toThrow(/cpu line/);
  });

  it("takes the CPU between two readings, and the kernel's part of it", () => {
    expect(cpuSince({ user: 1, system: 2 }, { user: 4.5, system: 3 })).toEqual({ all: 4.5, system: 1 });
  });

  it("splits a process's CPU into user and kernel time, and counts the whole machine's", () => {
    const before = cpuTimes(process.pid);
    const machine0 = machineCpu();
    // Burn at least 50 ms of user CPU: /proc counts in 10 ms ticks.
    const until = process.cpuUsage().user + 50_000;
    let x = 0;
    while (process.cpuUsage().user < until) for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const after = cpuTimes(process.pid);
    const machine1 = machineCpu();
    expect(after.user).toBeGreaterThan(before.user);
    expect(after.system).toBeGreaterThanOrEqual(before.system);
    expect(cpuSeconds(process.pid)).toBeGreaterThanOrEqual(after.user + after.system);
    // This process's user time is part of the machine's busy time.
    expect(machine1.busy - machine0.busy).toBeGreaterThanOrEqual(after.user - before.user - 0.02);
    expect(machine1.idle).toBeGreaterThanOrEqual(machine0.idle);
  });
});
