import { afterEach, expect, it } from "vitest";
import { AgentTunnel } from "../../src/peer/agent-tunnel.ts";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { cleanup, fetchVia, silent, startLocalServer, startRelay, waitForState } from "../helpers/harness.ts";
import { startStallProxy } from "../helpers/tcp-proxy.ts";

afterEach(cleanup);

it("detects a frozen tunnel by keepalive and replaces it", async () => {
  let relayPort = 0;
  const proxy = await startStallProxy(() => relayPort);
  const relay = await startRelay({
    keepAliveIntervalMs: 200,
    keepAliveTimeoutMs: 300,
    // The peer dials the relay through the proxy, so it signs the proxy's origin.
    extraOrigins: [`ws://127.0.0.1:${proxy.port}`],
  });
  relayPort = relay.port();
  const local = await startLocalServer((_req, res) => res.end("ok"));
  const tunnel = new AgentTunnel({
    name: "t",
    agentId: "id",
    identity: AgentIdentity.generate(),
    relayUrl: `ws://127.0.0.1:${proxy.port}`,
    target: new URL(local.url),
    log: silent,
    backoff: { baseMs: 20, capMs: 100, resetAfterMs: 60_000 },
    yamux: { keepAliveIntervalMs: 200, keepAliveTimeoutMs: 300 },
  });
  const connected: number[] = [];
  tunnel.on("state", (s) => {
    if (s.kind === "connected") connected.push(Date.now());
  });
  tunnel.start();
  const first = await waitForState(tunnel, (s) => s.kind === "connected");
  const host = new URL((first as { url: string }).url).host;

  // The socket stays open at both ends but no byte moves: a half-open, stalled path.
  proxy.freeze();
  await waitForState(tunnel, (s) => s.kind !== "connected");
  await waitForState(tunnel, (s) => s.kind === "connected");
  expect(connected.length).toBe(2);
  expect((await fetchVia(relay.port(), host, "/")).body.toString()).toBe("ok");
  await tunnel.stop();
  await proxy.close();
});
