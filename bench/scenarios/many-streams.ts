/**
 * 3. Many streams: a burst of requests all in flight at once on one tunnel, each held open by the
 * local server for a while. Success count, time to finish, and the relay's and peer's RSS.
 */
import { request } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { startTunnelEnv } from "../lib/env.ts";
import { describeFailures, FigureSet } from "../lib/figures.ts";
import { rssBytes, sampleRss } from "../lib/proc-stats.ts";
import type { Scenario } from "../lib/scenario.ts";
import type { BurstJob, BurstResult } from "../load/burst.ts";

export interface ManyStreamsParams {
  streams: number;
  holdMs: number;
  /** Connections the client sets up at once. */
  maxConnecting: number;
  /**
   * Time with no traffic before the idle RSS readings. V8 gives back the memory start-up used only
   * once its memory reducer runs, about 8 s after the last busy moment: a reading taken at once is
   * of a process that has just started, not of an idle one (both are reported).
   */
  idleWaitS: number;
}

const MiB = 1024 * 1024;

/** The local server's count of requests held at once since the last read. */
function peakHeld(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path: "/stats", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve((JSON.parse(body) as { peakHeld: number }).peakHeld));
    })
      .on("error", reject)
      .end();
  });
}

export const manyStreams: Scenario<ManyStreamsParams> = {
  n: 3,
  id: "many-streams",
  title: "Many streams on one tunnel",
  params: {
    quick: { streams: 5000, holdMs: 1000, maxConnecting: 256, idleWaitS: 12 },
    full: { streams: 10_000, holdMs: 1000, maxConnecting: 256, idleWaitS: 12 },
    smoke: { streams: 50, holdMs: 200, maxConnecting: 16, idleWaitS: 0 },
  },
  async run(ctx, p) {
    // The relay's per-tunnel stream limit (default 4096) and the peer's in-flight limit (default
    // 1024) are settings users can raise; raise both so the burst measures the tunnel.
    const env = await startTunnelEnv({
      relayArgs: ["--max-streams", String(p.streams)],
      maxInFlight: p.streams,
    });
    ctx.record("secureChannel", env.setup.secureChannel);
    ctx.record("relayMaxStreams", p.streams);
    ctx.record("peerMaxInFlight", env.setup.peerMaxInFlight);
    const figs = new FigureSet();
    try {
      figs.add("relay RSS just after start", "MiB", "lower", rssBytes(env.relay.pid) / MiB);
      figs.add("peer RSS just after start", "MiB", "lower", rssBytes(env.peer.pid) / MiB);
      if (p.idleWaitS > 0) {
        ctx.step(`${p.idleWaitS} s idle`);
        await sleep(p.idleWaitS * 1000);
      }
      figs.add("idle relay RSS", "MiB", "lower", rssBytes(env.relay.pid) / MiB);
      figs.add("idle peer RSS", "MiB", "lower", rssBytes(env.peer.pid) / MiB);
      const job = {
        count: p.streams,
        path: `/hold?ms=${p.holdMs}`,
        maxConnecting: p.maxConnecting,
        timeoutMs: p.holdMs + 60_000,
      };
      for (let rep = 0; rep < ctx.reps; rep++) {
        ctx.step(`direct, ${p.streams} at once, repetition ${rep + 1}/${ctx.reps}`);
        const d = await env.load.call<BurstResult>("burst", { ...job, ...env.direct } satisfies BurstJob);
        const heldDirect = await peakHeld(env.direct.port);
        ctx.step(`tunnel, ${p.streams} at once, repetition ${rep + 1}/${ctx.reps}`);
        const sampler = sampleRss([env.relay.pid, env.peer.pid]);
        const t = await env.load.call<BurstResult>("burst", { ...job, ...env.tunnel } satisfies BurstJob);
        const [relayPeak, peerPeak] = sampler.stop();
        env.check();
        const heldTunnel = await peakHeld(env.direct.port);
        figs.add("answered 200", "", "higher", t.ok, d.ok);
        figs.add("time until all answered", "s", "lower", t.seconds, d.seconds);
        figs.add("time to open the connections first", "s", "lower", t.connectSeconds, d.connectSeconds);
        figs.add("peak held at once by the local server", "", "higher", heldTunnel, heldDirect);
        figs.add("peak relay RSS", "MiB", "lower", relayPeak! / MiB);
        figs.add("peak peer RSS", "MiB", "lower", peerPeak! / MiB);
        if (t.failed + d.failed > 0)
          figs.annotate(
            "answered 200",
            `repetition ${rep + 1} failures: tunnel ${describeFailures(t.failures)}, direct ${describeFailures(d.failures)}`,
          );
      }
    } finally {
      await env.close();
    }
    return figs.build();
  },
};
