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
} from "./procs.ts";

export interface TunnelEnv {
  local: Proc;
  relay: Proc;
  peer: Proc;
  load: IpcProc;
  direct: Target;
  tunnel: Target;
  /** Throws if the relay, the peer or the local server has exited. */
  check(): void;
  close(): Promise<void>;
}

export async function startTunnelEnv(relayArgs: string[] = []): Promise<TunnelEnv> {
  const home = tempDir("home");
  const started: Proc[] = [];
  try {
    const local = await startLocalServer();
    started.push(local.proc);
    const relay = await startRelay(0, relayArgs);
    started.push(relay.proc);
    await createAgent(home.path, "bench");
    const peer = await startUp(home.path, "bench", relay.port, local.port);
    started.push(peer.proc);
    const load = startLoadWorker();
    started.push(load);
    return {
      local: local.proc,
      relay: relay.proc,
      peer: peer.proc,
      load,
      direct: { port: local.port },
      tunnel: { port: relay.port, host: peer.host },
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
