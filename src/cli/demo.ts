/** `agent-relay demo`: everything in one process, then a curl line that works. */
import { AgentTunnel } from "../peer/agent-tunnel.ts";
import { createRelay } from "../relay/server.ts";
import { openStore } from "./agent.ts";
import { startDemoServer } from "./demo-server.ts";
import { createLogger } from "./log.ts";
import { parseListen } from "./parse.ts";

export async function runDemo(o: { listen: string; logLevel: string }): Promise<void> {
  const { host, port } = parseListen(o.listen);
  const log = createLogger(o.logLevel, "demo");
  const relay = createRelay({ host, port, domain: "localhost", logLevel: o.logLevel }, log);
  const bound = await relay.listen();
  const local = await startDemoServer();
  const store = openStore();
  const existing = store.load().agents.find((a) => a.name === "demo");
  const record = existing ?? store.createAgent("demo", local.url).record;
  const tunnel = new AgentTunnel({
    name: "demo",
    agentId: record.id,
    identity: store.loadIdentity("demo"),
    relayUrl: `ws://${host.includes(":") ? `[${host}]` : host}:${bound}`,
    target: new URL(local.url),
    log,
  });
  tunnel.on("state", (s) => {
    if (s.kind !== "connected") return;
    process.stdout.write(
      `Agent Relay demo is running.\n` +
        `  relay:        ${host}:${bound}\n` +
        `  agent:        demo ${record.address}\n` +
        `  local server: ${local.url}\n` +
        `  public URL:   ${s.url}\n\n` +
        `Try it:\n  curl ${s.url}/hello\n\nPress Ctrl-C to stop.\n`,
    );
  });
  tunnel.start();
  const stop = async () => {
    await tunnel.stop();
    await relay.close();
    local.server.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
