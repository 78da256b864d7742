/**
 * 5. Restart storm: with N tunnels up, stop the relay with SIGTERM and start it again on the same
 * port. The tunnels reconnect by themselves; time until all are connected again and until every
 * agent has answered a request through the new relay. Each agent gets its request as soon as the
 * bench peer reports its tunnel back (in batches, from the load generator, 32 at a time), so the
 * last answer is timed rather than a sweep that only starts once the last tunnel is back. The
 * relay's and the bench peer's CPU time per tunnel over the restart show where the time goes.
 */

import { stopEach } from "../lib/env.ts";
import { FigureSet } from "../lib/figures.ts";
import { cpuSeconds } from "../lib/proc-stats.ts";
import {
  type IpcProc,
  type Proc,
  startLoadWorker,
  startLocalServer,
  startManyPeer,
  startRelay,
} from "../lib/procs.ts";
import type { Scenario } from "../lib/scenario.ts";
import type { SweepResult } from "../load/sweep.ts";
import type { OpenResult } from "./many-tunnels.ts";

export interface RestartStormParams {
  tunnels: number;
  concurrency: number;
  /** Give up on a restart after this long. */
  deadlineMs: number;
}

export const restartStorm: Scenario<RestartStormParams> = {
  n: 5,
  id: "restart-storm",
  title: "Restart storm",
  params: {
    quick: { tunnels: 1000, concurrency: 32, deadlineMs: 120_000 },
    full: { tunnels: 10_000, concurrency: 32, deadlineMs: 300_000 },
    smoke: { tunnels: 5, concurrency: 5, deadlineMs: 30_000 },
  },
  async run(ctx, p) {
    const figs = new FigureSet();
    ctx.record("secureChannel", "never");
    const started: Proc[] = [];
    try {
      const local = await startLocalServer();
      started.push(local.proc);
      let relay = await startRelay(0);
      started.push(relay.proc);
      const port = relay.port;
      const load = startLoadWorker();
      started.push(load);
      const peer = startManyPeer();
      started.push(peer);
      ctx.step(`opening ${p.tunnels} tunnels`);
      const open = await peer.call<OpenResult>("open", {
        relayUrl: `ws://127.0.0.1:${port}`,
        target: `http://127.0.0.1:${local.port}`,
        count: p.tunnels,
        concurrency: p.concurrency,
        secureChannel: "never",
        timeoutMs: p.deadlineMs,
      });
      if (open.connected !== p.tunnels)
        throw new Error(`only ${open.connected} of ${p.tunnels} tunnels connected`);
      for (let rep = 0; rep < ctx.reps; rep++) {
        ctx.step(`restart ${rep + 1}/${ctx.reps}: SIGTERM to the relay`);
        const deadline = Date.now() + p.deadlineMs;
        let dropped = false;
        let fullAt = 0;
        const requests = new RequestFeed();
        const allBack = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`tunnels not all back within ${p.deadlineMs} ms`)),
            p.deadlineMs,
          );
          peer.onEvent = (m) => {
            if (m.event === "drop") dropped = true;
            if (m.event === "up") requests.add(m.hosts as string[]);
            if (m.event === "full" && dropped) {
              fullAt = m.at as number;
              clearTimeout(timer);
              resolve();
            }
          };
        });
        const peerCpu0 = cpuSeconds(peer.pid);
        const t0 = Date.now();
        await relay.proc.stop("SIGTERM");
        const exitedAt = Date.now();
        const slot = started.indexOf(relay.proc);
        relay = await startRelay(port);
        started[slot] = relay.proc;
        const listeningAt = Date.now();
        const relayCpu0 = cpuSeconds(relay.proc.pid);
        ctx.step(`restart ${rep + 1}/${ctx.reps}: waiting for ${p.tunnels} tunnels`);
        const [, sweep] = await Promise.all([
          allBack,
          requests.run(load, { port, total: open.hosts.length, deadline, session: `restart-${rep}` }),
        ]);
        const servingAt = Date.now();
        const relayCpu = cpuSeconds(relay.proc.pid) - relayCpu0;
        const peerCpu = cpuSeconds(peer.pid) - peerCpu0;
        figs.add("relay exit after SIGTERM", "s", "lower", (exitedAt - t0) / 1000);
        figs.add("new relay listening", "s", "lower", (listeningAt - t0) / 1000);
        figs.add("all tunnels reconnected", "s", "lower", (fullAt - t0) / 1000);
        figs.add("all agents answered a request", "s", "lower", (servingAt - t0) / 1000, undefined, {
          note: "from SIGTERM; every agent gets one GET through the new relay once its tunnel is back",
        });
        figs.add("requests refused while sweeping", "", "lower", sweep.failedAttempts);
        figs.add("new relay's start-up CPU", "s", "lower", relayCpu0, undefined, {
          note: "CPU time of the new relay process until it printed its listening line (mostly module loading)",
        });
        figs.add(
          "relay CPU per tunnel, listening to all answered",
          "ms",
          "lower",
          (relayCpu * 1000) / p.tunnels,
        );
        figs.add(
          "bench peer CPU per tunnel, SIGTERM to all answered",
          "ms",
          "lower",
          (peerCpu * 1000) / p.tunnels,
          undefined,
          {
            note: "each tunnel's close, its attempts while no relay listened, its reconnect (WebSocket, signing the login) and its one request, in one process",
          },
        );
      }
      await peer.call("stop", {});
    } finally {
      await stopEach(started);
    }
    return figs.build();
  },
};

/**
 * Sends each agent its one request once its tunnel is back: the hosts the bench peer reports go to
 * the load generator in batches, one sweep at a time, on one pool of connections.
 */
class RequestFeed {
  private readonly seen = new Set<string>();
  private queue: string[] = [];
  private wake: (() => void) | undefined;

  add(hosts: string[]): void {
    for (const h of hosts) {
      if (this.seen.has(h)) continue;
      this.seen.add(h);
      this.queue.push(h);
    }
    this.wake?.();
  }

  async run(
    load: IpcProc,
    o: { port: number; total: number; deadline: number; session: string },
  ): Promise<{ failedAttempts: number }> {
    let done = 0;
    let failedAttempts = 0;
    while (done < o.total) {
      if (this.queue.length === 0) {
        const left = o.deadline - Date.now();
        if (left <= 0) throw new Error(`only ${done} of ${o.total} agents answered before the deadline`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      const hosts = this.queue.splice(0);
      const r = await load.call<SweepResult>("sweep", {
        port: o.port,
        hosts,
        concurrency: 32,
        deadlineMs: Math.max(0, o.deadline - Date.now()),
        session: o.session,
        last: done + hosts.length >= o.total,
      });
      if (r.failed > 0) throw new Error(`${r.failed} agents never answered after the restart`);
      done += hosts.length;
      failedAttempts += r.failedAttempts;
    }
    return { failedAttempts };
  }
}
