/**
 * Graceful restart with a real relay process: SIGTERM with requests in flight (none fails), exit 0,
 * then a new relay on the same port and the peer back on it.
 */
import { Agent, request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { Relay } from "../../src/relay/server.ts";
import { killAll, start, tempHome } from "../helpers/cli.ts";
import { cleanup, fetchVia, startLocalServer, startPeer, waitForState } from "../helpers/harness.ts";

afterEach(async () => {
  killAll();
  await cleanup();
});

async function relayProcess(port: number) {
  const proc = start(tempHome(), [
    "relay",
    "--listen",
    `127.0.0.1:${port}`,
    "--metrics-listen",
    "off",
    "--log-level",
    "info",
  ]);
  const bound = Number((await proc.waitFor(/relay listening on 127\.0\.0\.1:(\d+)/))[1]);
  return { proc, port: bound, listeningAt: Date.now() };
}

function get(port: number, host: string, path: string, agent: Agent | false = false) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, headers: { host }, agent }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("graceful restart of a relay process", () => {
  it("finishes in-flight requests on SIGTERM, exits 0, and the peer is back on the new relay", async () => {
    const held: Array<() => void> = [];
    const local = await startLocalServer((req, res) => {
      if (req.url?.startsWith("/slow")) held.push(() => res.end(`done ${req.url}`));
      else res.end("hello");
    });
    const first = await relayProcess(0);
    const port = first.port;
    const peer = await startPeer(
      { origin: `ws://127.0.0.1:${port}` } as Relay & { origin: string },
      local.url,
      {
        probe: false,
      },
    );
    const pooled = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(port, "localhost", "/health", pooled)).status).toBe(200);

    const inflight = Array.from({ length: 20 }, (_, i) => get(port, peer.host, `/slow/${i}`));
    const t0 = Date.now();
    while (held.length < 20 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
    expect(held.length).toBe(20);

    first.proc.child.kill("SIGTERM");
    await first.proc.waitFor(/draining/);
    const health = await get(port, "localhost", "/health", pooled);
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body).status).toBe("draining");
    expect(first.proc.child.exitCode).toBeNull();

    for (const h of held.splice(0)) h();
    const answers = await Promise.all(inflight);
    expect(answers).toEqual(answers.map((_, i) => ({ status: 200, body: `done /slow/${i}` })));
    expect(await first.proc.exited).toBe(0);
    pooled.destroy();

    // The peer heard "restarting" and keeps trying; a new relay on the same port gets it back.
    const second = await relayProcess(port);
    await waitForState(peer.tunnel, (s) => s.kind === "connected");
    const backAfterMs = Date.now() - second.listeningAt;
    const after = await fetchVia(port, peer.host, "/");
    expect(after.body.toString()).toBe("hello");
    console.log(`peer back ${backAfterMs} ms after the new relay printed its listening line`);
  });
});
