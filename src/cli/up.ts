/** `agent-relay up`: the peer daemon plus its control socket, until SIGINT/SIGTERM. */
import { serveControl } from "../peer/control.ts";
import { PeerDaemon } from "../peer/daemon.ts";
import { openStore } from "./agent.ts";
import { CliError } from "./errors.ts";
import { createLogger } from "./log.ts";
import { parseHttpUrl, parseInteger, parseRelayUrl } from "./parse.ts";

export interface UpOptions {
  agent?: string;
  relay?: string;
  target?: string;
  logLevel: string;
  agentIdHeader?: string;
  agentAddressHeader?: string;
  relayOriginHeader?: string;
  maxInFlight?: string;
}

export async function runUp(o: UpOptions): Promise<void> {
  const store = openStore();
  store.updateSettings((s) => {
    if (o.relay) s.relay = parseRelayUrl(o.relay);
    if (o.agentIdHeader || o.agentAddressHeader || o.relayOriginHeader) {
      const h = s.headers ?? {
        agentId: "X-Agent-Id",
        agentAddress: "X-Agent-Address",
        relayOrigin: "X-Relay-Origin",
      };
      s.headers = {
        agentId: o.agentIdHeader ?? h.agentId,
        agentAddress: o.agentAddressHeader ?? h.agentAddress,
        relayOrigin: o.relayOriginHeader ?? h.relayOrigin,
      };
    }
    if (o.maxInFlight) s.maxInFlight = parseInteger(o.maxInFlight, "--max-in-flight", 1);
  });
  const settings = store.load();
  if (!settings.relay) throw new CliError("no relay set; pass --relay ws://<relay host>:<port>");
  if (o.agent) {
    store.find(o.agent);
    if (o.target) {
      parseHttpUrl(o.target, "--target");
      store.update(o.agent, (a) => {
        a.target = o.target;
      });
    }
  } else {
    if (o.target) throw new CliError("--target needs --agent");
    if (!settings.agents.some((a) => a.enabled)) {
      throw new CliError("no enabled agents; run `agent-relay agent enable <name>` or pass --agent <name>");
    }
  }
  for (const a of settings.agents) if (o.agent ? a.name === o.agent : a.enabled) store.loadIdentity(a.name);

  const log = createLogger(o.logLevel, "peer");
  const daemon = new PeerDaemon({ store, log, ...(o.agent ? { only: o.agent } : {}) });
  const control = await serveControl(store.home, daemon);
  const printed = new Map<string, string>();
  daemon.on("change", () => {
    for (const a of daemon.status()) {
      const line =
        a.state.kind === "connected"
          ? `${a.name}: ${a.state.url} -> ${a.target}`
          : a.state.kind === "error"
            ? `${a.name}: error: ${a.state.reason}`
            : "";
      if (line && printed.get(a.name) !== line) {
        printed.set(a.name, line);
        (a.state.kind === "error" ? process.stderr : process.stdout).write(`${line}\n`);
      } else if (!line) printed.delete(a.name);
    }
  });
  daemon.start();
  process.on("SIGHUP", () => daemon.scheduleReconcile());
  const stop = async () => {
    control.close();
    await daemon.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
