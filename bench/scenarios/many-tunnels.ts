/**
 * 4. Many tunnels: one bench peer process opens N tunnels (one compiled AgentTunnel per agent) to
 * one relay. Connect + auth rate, relay RSS per idle tunnel, then requests to a random agent.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { stopEach } from "../lib/env.ts";
import { FigureSet } from "../lib/figures.ts";
import { rssBytes } from "../lib/proc-stats.ts";
import { type Proc, startLoadWorker, startLocalServer, startManyPeer, startRelay } from "../lib/procs.ts";
import type { Scenario } from "../lib/scenario.ts";
import type { CannonResult } from "../load/cannon.ts";
import type { SweepResult } from "../load/sweep.ts";

export interface ManyTunnelsParams {
  tunnels: number;
  /** Tunnels connecting at once. */
  concurrency: number;
  /** Wait before each RSS reading, so the readings are of an idle process. */
  settleMs: number;
  /** Random-agent load: connections and seconds. */
  connections: number;
  durationS: number;
  /**
   * Load each way before the measured runs. Every process here starts fresh for each repetition,
   * so without it the tunnel run (first) measured a cold relay, peer and load generator, and the
   * direct run after it a warm local server and load generator.
   */
  warmupS: number;
}

const KiB = 1024;

export interface OpenResult {
  hosts: string[];
  seconds: number;
  connected: number;
}

export const manyTunnels: Scenario<ManyTunnelsParams> = {
  n: 4,
  id: "many-tunnels",
  title: "Many tunnels on one relay",
  params: {
    quick: { tunnels: 500, concurrency: 32, settleMs: 1000, connections: 64, durationS: 2, warmupS: 0.5 },
    full: { tunnels: 10_000, concurrency: 32, settleMs: 2000, connections: 64, durationS: 10, warmupS: 2 },
    smoke: { tunnels: 10, concurrency: 4, settleMs: 100, connections: 4, durationS: 0.3, warmupS: 0 },
  },
  async run(ctx, p) {
    const figs = new FigureSet();
    ctx.record("secureChannel", "never");
    for (let rep = 0; rep < ctx.reps; rep++) {
      const started: Proc[] = [];
      try {
        const local = await startLocalServer();
        started.push(local.proc);
        const relay = await startRelay(0);
        started.push(relay.proc);
        const load = startLoadWorker();
        started.push(load);
        const peer = startManyPeer();
        started.push(peer);
        peer.onEvent = (m) => {
          if (m.event === "progress") ctx.step(`connecting: ${m.connected}/${p.tunnels}`);
        };
        await peer.ready;
        await sleep(p.settleMs);
        const relayBefore = rssBytes(relay.proc.pid);
        const peerBefore = rssBytes(peer.pid);
        ctx.step(`opening ${p.tunnels} tunnels, repetition ${rep + 1}/${ctx.reps}`);
        const open = await peer.call<OpenResult>("open", {
          relayUrl: `ws://127.0.0.1:${relay.port}`,
          target: `http://127.0.0.1:${local.port}`,
          count: p.tunnels,
          concurrency: p.concurrency,
          secureChannel: "never",
          timeoutMs: 120_000 + p.tunnels * 50,
        });
        if (open.connected !== p.tunnels)
          throw new Error(`only ${open.connected} of ${p.tunnels} tunnels connected`);
        await sleep(p.settleMs);
        const relayAfter = rssBytes(relay.proc.pid);
        const peerAfter = rssBytes(peer.pid);
        figs.add("connect + auth rate", "tunnels/s", "higher", p.tunnels / open.seconds);
        figs.add("relay RSS per idle tunnel", "KiB", "lower", (relayAfter - relayBefore) / p.tunnels / KiB);
        figs.add("relay RSS with all tunnels up", "MiB", "lower", relayAfter / KiB / KiB);
        figs.add("bench peer RSS per tunnel", "KiB", "lower", (peerAfter - peerBefore) / p.tunnels / KiB);

        // The same random Host per request both ways (the local server ignores it), so the load
        // generator's cost per request is the same.
        const job = (port: number) => (durationS: number) => ({
          connections: p.connections,
          durationS,
          url: `http://127.0.0.1:${port}/small`,
          hosts: open.hosts,
        });
        const tunnelJob = job(relay.port);
        const directJob = job(local.port);
        if (p.warmupS > 0) {
          ctx.step(`warmup, repetition ${rep + 1}/${ctx.reps}`);
          await load.call<CannonResult>("cannon", directJob(p.warmupS));
          // One request to every agent, so each tunnel's first connection to the local server is
          // opened here and not in the measured run (random requests for a few seconds reach only
          // part of 10,000 agents); then random load, as measured.
          const swept = await load.call<SweepResult>("sweep", {
            port: relay.port,
            hosts: open.hosts,
            concurrency: p.connections,
            deadlineMs: 120_000,
          });
          if (swept.failed > 0) throw new Error(`${swept.failed} agents never answered the warm-up request`);
          await load.call<CannonResult>("cannon", tunnelJob(p.warmupS));
        }
        // The tunnel run comes straight after its warm-up: the peer closes a local connection after
        // 4 s idle, so a direct run in between would undo the warm-up of 10,000 agents' pools.
        ctx.step(`requests to random agents, repetition ${rep + 1}/${ctx.reps}`);
        const t = await load.call<CannonResult>("cannon", tunnelJob(p.durationS));
        const d = await load.call<CannonResult>("cannon", directJob(p.durationS));
        const at = `random agent, ${p.connections} conn`;
        figs.add(`req/s, ${at}`, "req/s", "higher", t.reqPerS, d.reqPerS);
        figs.add(`p50 latency, ${at}`, "ms", "lower", t.p50Ms, d.p50Ms);
        figs.add(`p99 latency, ${at}`, "ms", "lower", t.p99Ms, d.p99Ms);
        figs.add(`errors, ${at}`, "", "lower", t.errors, d.errors, { ratio: false });
        await peer.call("stop", {});
      } finally {
        await stopEach(started);
      }
    }
    return figs.build();
  },
};
