import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import type { Relay } from "../../src/relay/server.ts";
import { killAll, start, tempHome } from "../helpers/cli.ts";
import { cleanup, fetchVia, startLocalServer, startPeer } from "../helpers/harness.ts";
import { type RedisProc, startRedis } from "../helpers/redis.ts";
import { startStallProxy } from "../helpers/tcp-proxy.ts";

let redis: RedisProc | undefined;
afterEach(async () => {
  killAll();
  await cleanup();
  await redis?.stop();
});

it("kill -9 of a node: its agents come back through another node behind the same load balancer", async () => {
  redis = await startRedis();
  const home = tempHome();
  const secret = join(home, "cluster.secret");
  writeFileSync(secret, "a-cluster-secret-for-tests-only\n", { mode: 0o600 });
  // A TCP load balancer for tunnels: new connections go to the first node still alive.
  const alive: number[] = [];
  const lb = await startStallProxy(() => alive[0]!);
  const startNode = async (id: string) => {
    const p = start(home, [
      "relay",
      "--listen",
      "127.0.0.1:0",
      "--cluster",
      redis!.url,
      "--node-id",
      id,
      "--internal-listen",
      "127.0.0.1:0",
      "--cluster-secret-file",
      secret,
      "--cluster-lease",
      "1s",
      "--origin",
      `ws://127.0.0.1:${lb.port}`,
      "--metrics-listen",
      "off",
      "--log-level",
      "warn",
    ]);
    const port = Number((await p.waitFor(/relay listening on 127\.0\.0\.1:(\d+)/))[1]);
    return { p, port };
  };
  const n1 = await startNode("n1");
  const n2 = await startNode("n2");
  alive.push(n1.port, n2.port);

  const local = await startLocalServer((req, res) => res.end(`ok:${req.url}`));
  const peer = await startPeer(
    { origin: `ws://127.0.0.1:${lb.port}` } as Relay & { origin: string },
    local.url,
    {
      backoff: { baseMs: 100, capMs: 500, resetAfterMs: 60_000 },
    },
  );
  const viaN2 = `${peer.identity.hexAddress}.localhost:${n2.port}`;
  let r = await fetchVia(n2.port, viaN2, "/before");
  for (let i = 0; i < 100 && r.status !== 200; i++) r = await fetchVia(n2.port, viaN2, "/before");
  expect(r.body.toString()).toBe("ok:/before"); // tunnel on n1, request through n2

  n1.p.child.kill("SIGKILL");
  alive.shift();
  const killedAt = Date.now();
  r = await fetchVia(n2.port, viaN2, "/after");
  while (r.status !== 200 && Date.now() - killedAt < 10_000) r = await fetchVia(n2.port, viaN2, "/after");
  expect(r.body.toString()).toBe("ok:/after");
  await lb.close();
});
