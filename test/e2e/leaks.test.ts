import { readdirSync } from "node:fs";
import { afterEach, expect, it } from "vitest";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { connectTunnel } from "../../src/peer/tunnel-client.ts";
import { cleanup, fetchVia, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";

afterEach(cleanup);

const fds = () => readdirSync("/proc/self/fd").length;

async function pool<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

async function settle(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

it("10,000 requests, each on a new public connection, leave no fds, streams or in-flight behind", async () => {
  const relay = await startRelay();
  const local = await startLocalServer((req, res) => res.end(req.url));
  const peer = await startPeer(relay, local.url);
  // Warm up so lazily created resources exist before the baseline.
  await pool(200, 20, (i) => fetchVia(relay.port(), peer.host, `/w${i}`));
  global.gc?.();
  const fdBefore = fds();
  const rssBefore = process.memoryUsage().rss;
  let ok = 0;
  await pool(10_000, 50, async (i) => {
    const r = await fetchVia(relay.port(), peer.host, `/${i}`);
    if (r.body.toString() === `/${i}`) ok++;
  });
  expect(ok).toBe(10_000);
  await settle(() => relay.registry.streamCount() === 0 && fds() <= fdBefore + 5);
  expect(relay.registry.streamCount()).toBe(0);
  expect(peer.tunnel.forwarder.inFlight).toBe(0);
  expect(fds()).toBeLessThanOrEqual(fdBefore + 5);
  // RSS: a loose documented margin (64 MiB) for allocator slack in a shared test process.
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
});

it("1,000 tunnel connects and disconnects leave no tunnels or fds behind", async () => {
  const relay = await startRelay();
  const identities = Array.from({ length: 10 }, () => AgentIdentity.generate());
  await pool(50, 10, async (i) => {
    const t = await connectTunnel({ relayUrl: relay.origin, identity: identities[i % 10]! });
    t.ws.close();
  });
  await settle(() => relay.registry.size === 0);
  const fdBefore = fds();
  await pool(1000, 10, async (i) => {
    const t = await connectTunnel({ relayUrl: relay.origin, identity: identities[i % 10]! });
    await new Promise<void>((resolve) => {
      t.ws.once("close", () => resolve());
      t.ws.close();
    });
  });
  await settle(() => relay.registry.size === 0 && fds() <= fdBefore + 5);
  expect(relay.registry.size).toBe(0);
  expect(fds()).toBeLessThanOrEqual(fdBefore + 5);
}, 60_000);
