/**
 * The processes most scenarios need: the local server, a relay and one `agent-relay up` peer in
 * front of it, and the load generator. Direct requests go to the local server; tunnel requests go
 * to the relay with the agent's Host header.
 */
import type { Target } from "../load/http-client.ts";
import {
  createAgent,
  type IpcProc,
  type Proc,
  startLoadWorker,
  startLocalServer,
  startRelay,
  startUp,
  tempDir,
  upOptions,
} from "./procs.ts";
import type { ScenarioContext } from "./scenario.ts";

export interface EnvOptions {
  relayArgs?: string[];
  /** The Noise secure channel on the tunnel (`up --secure-channel`); default never (plain). */
  secureChannel?: "never" | "always";
  /** Requests in flight the peer allows (`up --max-in-flight`); default: the peer's own. */
  maxInFlight?: number;
}

export interface TunnelEnv {
  local: Proc;
  relay: Proc;
  peer: Proc;
  load: IpcProc;
  direct: Target;
  tunnel: Target;
  /** How the peer was set up, for the results: the options this build accepted. */
  setup: { secureChannel: string; peerMaxInFlight: string };
  /** Throws if the relay, the peer or the local server has exited. */
  check(): void;
  close(): Promise<void>;
}

export async function startTunnelEnv(o: EnvOptions = {}): Promise<TunnelEnv> {
  const home = tempDir("home");
  const flags = await upOptions();
  const upArgs: string[] = [];
  const setup = { secureChannel: "not an option in this build (plain)", peerMaxInFlight: "peer default" };
  if (flags.has("--secure-channel")) {
    upArgs.push("--secure-channel", o.secureChannel ?? "never");
    setup.secureChannel = o.secureChannel ?? "never";
  } else if (o.secureChannel === "always") {
    throw new Error("this build has no `up --secure-channel` option");
  }
  if (o.maxInFlight !== undefined) {
    if (flags.has("--max-in-flight")) {
      upArgs.push("--max-in-flight", String(o.maxInFlight));
      setup.peerMaxInFlight = String(o.maxInFlight);
    } else setup.peerMaxInFlight = "peer default (no --max-in-flight in this build)";
  }
  const started: Proc[] = [];
  try {
    // Everything but the peer starts at once; the peer needs the relay, the server and the agent.
    const load = startLoadWorker();
    started.push(load);
    const keep = <T extends { proc: Proc }>(p: Promise<T>) =>
      p.then((x) => {
        started.push(x.proc);
        return x;
      });
    const [local, relay] = await Promise.all([
      keep(startLocalServer()),
      keep(startRelay(0, o.relayArgs ?? [])),
      createAgent(home.path, "bench"),
      load.ready,
    ]);
    const peer = await startUp(home.path, "bench", relay.port, local.port, upArgs);
    started.push(peer.proc);
    return {
      local: local.proc,
      relay: relay.proc,
      peer: peer.proc,
      load,
      direct: { port: local.port },
      tunnel: { port: relay.port, host: peer.host },
      setup,
      check: () => {
        for (const p of [relay.proc, peer.proc, local.proc]) p.assertRunning();
      },
      close: async () => {
        await stopEach(started);
        home.remove();
      },
    };
  } catch (err) {
    await stopEach(started);
    home.remove();
    throw err;
  }
}

/** Stops processes in reverse start order. */
export async function stopEach(procs: Proc[]): Promise<void> {
  for (const p of [...procs].reverse()) await p.stop();
}

/** Runs `fn` on a fresh environment set up with `o`, records its set-up, and always stops it. */
export async function withEnv<T>(
  ctx: ScenarioContext,
  o: EnvOptions,
  fn: (env: TunnelEnv) => Promise<T>,
): Promise<T> {
  const env = await startTunnelEnv(o);
  ctx.record("secureChannel", env.setup.secureChannel);
  if (o.maxInFlight !== undefined) ctx.record("peerMaxInFlight", env.setup.peerMaxInFlight);
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}
