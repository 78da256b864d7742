/**
 * A bench peer that holds many tunnels in one process: one AgentTunnel (the compiled peer code that
 * `agent-relay up` runs) per generated agent, all forwarding to the same local server. Driven over
 * IPC: `open` connects them with bounded concurrency and answers with their public hosts; after
 * that it reports `{event:"full"}` each time every tunnel is connected again and `{event:"drop"}`
 * when one is lost, with the wall-clock time, so the bench can time a relay restart. In between,
 * `{event:"up", hosts}` names the tunnels that came back (a batch every few ms), so the bench can
 * send each agent its request as soon as its tunnel is back.
 */
import pino from "pino";
import type * as AgentTunnelModule from "../../src/peer/agent-tunnel.ts";
import type * as IdentityModule from "../../src/peer/identity.ts";
import { fromDist } from "../load/dist.ts";

interface OpenJob {
  relayUrl: string;
  target: string;
  count: number;
  /** Tunnels connecting at once. */
  concurrency: number;
  timeoutMs: number;
  secureChannel: "never" | "always";
}

const log = pino({ level: "silent" });
const tunnels: AgentTunnelModule.AgentTunnel[] = [];
let connected = 0;
/** Set once `open` is done; events are only sent after that. */
let watching = false;
let full = false;

function emit(msg: Record<string, unknown>): void {
  process.send?.(msg);
}

/** Hosts whose tunnel came back since the last "up" event. */
let cameUp: string[] = [];
let upTimer: NodeJS.Timeout | undefined;

function reportUp(host: string): void {
  cameUp.push(host);
  if (upTimer === undefined) upTimer = setTimeout(flushUp, 5);
}

function flushUp(): void {
  clearTimeout(upTimer);
  upTimer = undefined;
  if (cameUp.length === 0) return;
  emit({ event: "up", hosts: cameUp });
  cameUp = [];
}

function track(t: AgentTunnelModule.AgentTunnel): void {
  let isUp = false;
  t.on("state", (s) => {
    const up = s.kind === "connected";
    if (up === isUp) return;
    isUp = up;
    connected += up ? 1 : -1;
    if (!watching) return;
    if (s.kind === "connected") reportUp(new URL(s.url).host);
    if (connected === tunnels.length && !full) {
      flushUp(); // the last hosts go before "full"
      full = true;
      emit({ event: "full", at: Date.now(), connected });
    } else if (connected < tunnels.length && full) {
      full = false;
      emit({ event: "drop", at: Date.now(), connected });
    }
  });
}

// tsx turns source maps on, which makes every error's stack trace costly to build: with thousands of
// tunnels refused while the relay restarts, that was about a tenth of this process's CPU time. The
// peer that users run (`node bin/agent-relay.js up`) has them off, so this one does too.
process.setSourceMapsEnabled(false);

// Loaded before the bench reads this process's RSS, so per-tunnel figures leave the imports out.
const { AgentTunnel } = await fromDist<typeof AgentTunnelModule>("peer/agent-tunnel.js");
const { AgentIdentity } = await fromDist<typeof IdentityModule>("peer/identity.js");

async function open(job: OpenJob): Promise<{ hosts: string[]; seconds: number; connected: number }> {
  const identities = Array.from({ length: job.count }, () => AgentIdentity.generate());
  const hosts: string[] = new Array(job.count);
  const started = performance.now();
  const deadline = Date.now() + job.timeoutMs;
  let next = 0;
  const progress = setInterval(() => emit({ event: "progress", connected }), 500);
  const worker = async () => {
    while (next < job.count && Date.now() < deadline) {
      const i = next++;
      const t = new AgentTunnel({
        name: `bench-${i}`,
        agentId: crypto.randomUUID(),
        identity: identities[i]!,
        relayUrl: job.relayUrl,
        target: new URL(job.target),
        log,
        // No periodic end-to-end probe: from thousands of tunnels it would be background load on the
        // relay during the measurements. The scenarios check serving with their own requests.
        probe: false,
        secureChannel: job.secureChannel,
      });
      tunnels.push(t);
      track(t);
      const url = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
        t.on("state", (s) => {
          if (s.kind === "connected" || s.kind === "error") {
            clearTimeout(timer);
            resolve(s.kind === "connected" ? s.url : undefined);
          }
        });
        t.start();
      });
      if (url) hosts[i] = new URL(url).host;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  clearInterval(progress);
  watching = true;
  full = connected === tunnels.length;
  const seconds = (performance.now() - started) / 1000;
  return { hosts: hosts.filter((h) => h !== undefined), seconds, connected };
}

async function stop(): Promise<void> {
  await Promise.race([
    Promise.all(tunnels.map((t) => t.stop())),
    new Promise((r) => setTimeout(r, 5000).unref()),
  ]);
}

process.on("message", async (raw) => {
  const msg = raw as { id: number; job: string; args: unknown };
  try {
    let result: unknown;
    if (msg.job === "open") result = await open(msg.args as OpenJob);
    else if (msg.job === "stop") result = await stop();
    else throw new Error(`unknown job ${msg.job}`);
    process.send?.({ id: msg.id, ok: true, result });
  } catch (err) {
    process.send?.({ id: msg.id, ok: false, error: (err as Error).stack ?? String(err) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send?.({ event: "ready" });
