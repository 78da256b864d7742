/** `agent-relay up`: one AgentTunnel per agent, until SIGINT/SIGTERM. */
import { AgentTunnel } from "../peer/agent-tunnel.ts";
import type { AgentRecord, Store } from "../peer/store.ts";
import { openStore } from "./agent.ts";
import { CliError } from "./errors.ts";
import { createLogger } from "./log.ts";
import { parseHttpUrl, parseRelayUrl } from "./parse.ts";

export interface UpOptions {
  agent?: string;
  relay?: string;
  target?: string;
  logLevel: string;
}

export async function runUp(o: UpOptions): Promise<void> {
  const store = openStore();
  if (o.relay) store.setRelay(parseRelayUrl(o.relay));
  const relay = store.load().relay;
  if (!relay) throw new CliError("no relay set; pass --relay ws://<relay host>:<port>");
  let agents: AgentRecord[];
  if (o.agent) {
    const name = o.agent;
    if (o.target) {
      parseHttpUrl(o.target, "--target");
      store.update(name, (a) => {
        a.target = o.target;
      });
    }
    agents = [store.find(name)];
  } else {
    if (o.target) throw new CliError("--target needs --agent");
    agents = store.load().agents.filter((a) => a.enabled);
    if (agents.length === 0)
      throw new CliError("no enabled agents; run `agent-relay agent enable <name>` or pass --agent");
  }
  const log = createLogger(o.logLevel, "peer");
  const tunnels = agents.map((a) => startTunnel(store, a, relay, log));
  const stop = async () => {
    await Promise.all(tunnels.map((t) => t.stop()));
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function startTunnel(
  store: Store,
  a: AgentRecord,
  relay: string,
  log: ReturnType<typeof createLogger>,
): AgentTunnel {
  if (!a.target) throw new CliError(`agent ${a.name} has no target; pass --target http://127.0.0.1:<port>`);
  const tunnel = new AgentTunnel({
    name: a.name,
    agentId: a.id,
    identity: store.loadIdentity(a.name),
    relayUrl: relay,
    target: parseHttpUrl(a.target, "target"),
    log,
  });
  tunnel.on("state", (s) => {
    if (s.kind === "connected") process.stdout.write(`${a.name}: ${s.url} -> ${a.target}\n`);
    if (s.kind === "error") process.stderr.write(`agent-relay: ${a.name}: ${s.reason}\n`);
  });
  tunnel.start();
  return tunnel;
}
