/**
 * 5. Restart storm: with N tunnels up, stop the relay with SIGTERM and start it again on the same
 * port. The tunnels reconnect by themselves; time until all are connected again and until every
 * agent has answered a request through the new relay.
 */

import { stopEach } from "../lib/env.ts";
import { FigureSet } from "../lib/figures.ts";
import { type Proc, startLoadWorker, startLocalServer, startManyPeer, startRelay } from "../lib/procs.ts";
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
        let dropped = false;
        let fullAt = 0;
        const allBack = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`tunnels not all back within ${p.deadlineMs} ms`)),
            p.deadlineMs,
          );
          peer.onEvent = (m) => {
            if (m.event === "drop") dropped = true;
            if (m.event === "full" && dropped) {
              fullAt = m.at as number;
              clearTimeout(timer);
              resolve();
            }
          };
        });
        const t0 = Date.now();
        await relay.proc.stop("SIGTERM");
        const exitedAt = Date.now();
        const slot = started.indexOf(relay.proc);
        relay = await startRelay(port);
        started[slot] = relay.proc;
        const listeningAt = Date.now();
        ctx.step(`restart ${rep + 1}/${ctx.reps}: waiting for ${p.tunnels} tunnels`);
        await allBack;
        const sweep = await load.call<SweepResult>("sweep", {
          port,
          hosts: open.hosts,
          concurrency: 32,
          deadlineMs: p.deadlineMs,
        });
        const servingAt = Date.now();
        if (sweep.failed > 0)
          throw new Error(`${sweep.failed} agents never answered after restart ${rep + 1}`);
        figs.add("relay exit after SIGTERM", "s", "lower", (exitedAt - t0) / 1000);
        figs.add("new relay listening", "s", "lower", (listeningAt - t0) / 1000);
        figs.add("all tunnels reconnected", "s", "lower", (fullAt - t0) / 1000);
        figs.add("all agents answered a request", "s", "lower", (servingAt - t0) / 1000, undefined, {
          note: "from SIGTERM; every agent gets one GET through the new relay",
        });
        figs.add("requests refused while sweeping", "", "lower", sweep.failedAttempts);
      }
      await peer.call("stop", {});
    } finally {
      await stopEach(started);
    }
    return figs.build();
  },
};
