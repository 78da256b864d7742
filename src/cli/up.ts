/**
 * `agent-relay up`: the peer daemon, its control socket and its management page, until SIGINT/SIGTERM.
 * The page's modules load only when it is served (not with --no-ui).
 */
import { serveControl } from "../peer/control.ts";
import { PeerDaemon } from "../peer/daemon.ts";
import type { UiServer } from "../peer/ui/server.ts";
import { DEFAULT_UI_PORT } from "../peer/ui/ui-file.ts";
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
  secureChannel?: string;
  /** false with --no-ui. */
  ui?: boolean;
  uiPort?: string;
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
    if (o.secureChannel) {
      if (o.secureChannel !== "auto" && o.secureChannel !== "always" && o.secureChannel !== "never") {
        throw new CliError(`--secure-channel: expected auto, always or never, got "${o.secureChannel}"`);
      }
      s.secureChannel = o.secureChannel;
    }
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
    // With the management page on, `up` may start with nothing enabled: the page is where you enable.
    if (o.ui === false && !settings.agents.some((a) => a.enabled)) {
      throw new CliError("no enabled agents; run `agent-relay agent enable <name>` or pass --agent <name>");
    }
  }
  for (const a of settings.agents) if (o.agent ? a.name === o.agent : a.enabled) store.loadIdentity(a.name);
  const uiPort = o.uiPort === undefined ? DEFAULT_UI_PORT : parseInteger(o.uiPort, "--ui-port", 0);
  if (uiPort > 65535) throw new CliError(`--ui-port: port ${uiPort} is out of range`);

  const log = createLogger(o.logLevel, "peer");
  const daemon = new PeerDaemon({ store, log, ...(o.agent ? { only: o.agent } : {}) });
  const control = await serveControl(store.home, daemon);
  let ui: UiServer | undefined;
  if (o.ui !== false) {
    try {
      const { startUiServer } = await import("../peer/ui/server.ts");
      ui = await startUiServer({
        daemon,
        store,
        port: uiPort,
        // The default port may be taken (another peer, another app): any free one will do, since
        // `agent-relay ui` reads the port from ui.json. A port asked for explicitly must be that one.
        fallbackToFreePort: o.uiPort === undefined,
        log,
        ...(o.agent ? { only: o.agent } : {}),
      });
    } catch (err) {
      control.close();
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE")
        throw new CliError(`--ui-port: port ${uiPort} is in use; pick another or pass --no-ui`);
      throw err;
    }
    process.stdout.write(`management page: ${ui.url} (open it signed in with \`agent-relay ui\`)\n`);
  }
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
    await ui?.close();
    await daemon.stop();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
