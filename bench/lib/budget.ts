/**
 * What a ratio target leaves the relay and the peer, from the CPU accounting of a direct run and a
 * tunnel run measured back to back.
 *
 * At the target rate the machine's cores give `cores / rate` seconds of CPU per unit (request or
 * MiB), and nothing else runs faster for the tunnel being there: the local server costs per unit what
 * it cost in the tunnel run (it reads the tunnel's header fields too), and the load generator with
 * its share of the kernel's network work costs what it cost in the direct run (the machine's busy
 * time less the local server's). What is left is the most the relay and the peer may cost together,
 * if no core ever idles. Any kernel work for the tunnel's two extra connections that is charged to no
 * process (interrupts, softirqs) would make the real budget smaller; `unattributed` shows how much
 * busy time the parts leave unexplained in the tunnel run. A target whose budget is below what the
 * relay and the peer spend in the kernel alone cannot be met by any change to their own code.
 */

/** CPU seconds one run spent (all cores together) over `units` requests or MiB. */
export interface RunCpu {
  units: number;
  /** Machine-wide busy and idle seconds (/proc/stat). */
  busy: number;
  idle: number;
  /** The local server's seconds. */
  local: number;
  /** The relay's and the peer's seconds together, and the kernel's part of them (tunnel runs). */
  tunnel?: { all: number; system: number };
}

export interface Budget {
  /** CPU per unit the machine has at the target rate. */
  atTarget: number;
  /** The local server's CPU per unit in the tunnel run. */
  local: number;
  /** The load generator's and its kernel work's CPU per unit, from the direct run. */
  load: number;
  /** What that leaves the relay and the peer per unit, at most (negative: not even without them). */
  left: number;
  /** What the relay and the peer took per unit, and the kernel's part of it. */
  tunnel: number;
  tunnelSystem: number;
  /** Busy time per unit in the tunnel run that no part above accounts for (the extra kernel work). */
  unattributed: number;
}

/** The budget for `targetRate` units per second on `cores` cores. Per-unit figures are in seconds. */
export function budget(tunnelRun: RunCpu, directRun: RunCpu, targetRate: number, cores: number): Budget {
  if (!(tunnelRun.units > 0) || !(directRun.units > 0) || !(targetRate > 0) || !(cores > 0))
    throw new RangeError("budget: units, the target rate and cores must be positive");
  if (tunnelRun.tunnel === undefined)
    throw new RangeError("budget: the tunnel run has no relay and peer times");
  const atTarget = cores / targetRate;
  const local = tunnelRun.local / tunnelRun.units;
  const load = (directRun.busy - directRun.local) / directRun.units;
  const tunnel = tunnelRun.tunnel.all / tunnelRun.units;
  return {
    atTarget,
    local,
    load,
    left: atTarget - local - load,
    tunnel,
    tunnelSystem: tunnelRun.tunnel.system / tunnelRun.units,
    unattributed: tunnelRun.busy / tunnelRun.units - tunnel - local - load,
  };
}

/** The share of a run's machine time that was idle. */
export const idleShare = (run: RunCpu): number => run.idle / (run.busy + run.idle);

/**
 * One line for the medians of some budgets: `unit` names what a figure is per ("request"), `scale`
 * and `suffix` turn seconds into the printed unit (1e6, "us").
 */
export function describeBudgets(
  budgets: Budget[],
  target: number,
  cores: number,
  unit: string,
  scale: number,
  suffix: string,
  median: (v: number[]) => number,
): string {
  const f = (pick: (b: Budget) => number) =>
    `${(median(budgets.map(pick)) * scale).toFixed(scale >= 1e6 ? 1 : 3)} ${suffix}`;
  return (
    `at ${target} of direct the ${cores} cores give ${f((b) => b.atTarget)} per ${unit}; the local server took ` +
    `${f((b) => b.local)} and the load generator ${f((b) => b.load)} (as in the direct run), which leaves ` +
    `the relay and the peer at most ${f((b) => b.left)} with no core ever idle; they took ` +
    `${f((b) => b.tunnel)}, ${f((b) => b.tunnelSystem)} of it in the kernel (busy time in the tunnel run ` +
    `beyond these parts: ${f((b) => b.unattributed)})`
  );
}
