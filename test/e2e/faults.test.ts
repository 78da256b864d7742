import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { queryControl } from "../../src/peer/control.ts";
import { curl, killAll, run, start, tempHome } from "../helpers/cli.ts";
import { cleanup, fetchVia, startLocalServer, startPeer, startRelay } from "../helpers/harness.ts";

afterEach(async () => {
  killAll();
  await cleanup();
});

/** Polls `probe` until it returns true or `deadlineMs` passes; returns the elapsed ms or -1. */
async function within(deadlineMs: number, probe: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < deadlineMs) {
    if (await probe()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 10));
  }
  return -1;
}

async function relayAndPeer(home: string, _target: string, port = 0) {
  const relay = start(home, ["relay", "--listen", `127.0.0.1:${port}`, "--log-level", "warn"]);
  const bound = Number((await relay.waitFor(/relay listening on 127\.0\.0\.1:(\d+)/))[1]);
  return { relay, port: bound };
}

describe("faults with real processes", () => {
  it("relay killed with kill -9 mid-download: the client's connection ends, the peer comes back, nothing leaks", async () => {
    const home = tempHome();
    let open = 0;
    const local = await startLocalServer((req, res) => {
      if (req.url === "/small") return res.end("small");
      res.writeHead(200, { "content-length": 1024 * 1024 * 1024 });
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (res.write(chunk)) {}
      };
      res.on("drain", pump);
      pump();
    });
    local.server.on("connection", (s) => {
      open++;
      s.on("close", () => open--);
    });
    const { relay, port } = await relayAndPeer(home, local.url);
    await run(home, ["agent", "create", "a", "--target", local.url]);
    const up = start(home, ["up", "--agent", "a", "--relay", `ws://127.0.0.1:${port}`]);
    const url = (await up.waitFor(/a: (http:\/\/\S+) -> /))[1]!;
    const host = new URL(url).host;

    const ended = new Promise<number>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/big", headers: { host } }, (res) => {
        res.once("data", () => {
          relay.child.kill("SIGKILL");
          const killedAt = Date.now();
          const done = () => resolve(Date.now() - killedAt);
          res.on("close", done);
          res.on("error", done);
        });
      });
      req.on("error", () => {});
      req.end();
    });
    expect(await ended).toBeLessThan(1000);

    // The peer drops its streams: the local server sees its connection closed, in-flight goes to 0.
    expect(await within(5000, async () => open === 0)).toBeGreaterThanOrEqual(0);
    const st = await queryControl(home);
    expect(st.agents[0]!.inFlight).toBe(0);

    // A relay listens again on the same port: the peer reconnects by itself.
    await relayAndPeer(home, local.url, port);
    await up.waitFor(/a: (http:\/\/\S+) -> [\s\S]*a: (http:\/\/\S+) -> /, 20_000);
    const after = await curl(`${url}/small`);
    expect(after).toEqual({ status: 200, body: "small" });
  });

  it("peer killed mid-upload: the client gets a prompt error and the address answers agent_offline within 1 s", async () => {
    const home = tempHome();
    const local = await startLocalServer((req, res) => {
      req.on("data", () => {});
      req.on("end", () => res.end("never"));
    });
    const { port } = await relayAndPeer(home, local.url);
    await run(home, ["agent", "create", "a", "--target", local.url]);
    const up = start(home, ["up", "--agent", "a", "--relay", `ws://127.0.0.1:${port}`]);
    const url = (await up.waitFor(/a: (http:\/\/\S+) -> /))[1]!;
    const host = new URL(url).host;

    const outcome = new Promise<{ kind: string; ms: number }>((resolve) => {
      let killedAt = 0;
      const req = request(
        { host: "127.0.0.1", port, path: "/up", method: "POST", headers: { host } },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ kind: `status ${res.statusCode}`, ms: Date.now() - killedAt }));
        },
      );
      req.on("error", () => resolve({ kind: "error", ms: Date.now() - killedAt }));
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 16) {
          sent++;
          if (!req.write(chunk)) break;
        }
        if (sent >= 16 && killedAt === 0) {
          killedAt = Date.now();
          up.child.kill("SIGKILL");
        } else req.once("drain", pump);
      };
      pump();
      // Keep the request open: the body never ends on its own.
    });
    const o = await outcome;
    expect(o.kind === "error" || o.kind === "status 502").toBe(true);
    expect(o.ms).toBeLessThan(1000);
    const t0 = Date.now();
    let answer = await fetchVia(port, host, "/");
    while (answer.status !== 502 && Date.now() - t0 < 1000) answer = await fetchVia(port, host, "/");
    expect(JSON.parse(answer.body.toString())).toEqual({ error: "agent_offline" });
  });
});

describe("faults in one process", () => {
  it("local server down, then up: local_unreachable, then success with no peer restart", async () => {
    const relay = await startRelay();
    const local = await startLocalServer((_req, res) => res.end("back"));
    const port = local.port;
    const peer = await startPeer(relay, local.url);
    await new Promise<void>((r) => {
      local.server.closeAllConnections();
      local.server.close(() => r());
    });
    const down = await fetchVia(relay.port(), peer.host, "/");
    expect(down.status).toBe(502);
    expect(JSON.parse(down.body.toString())).toEqual({ error: "local_unreachable" });
    await new Promise<void>((r) => local.server.listen(port, "127.0.0.1", () => r()));
    const up = await fetchVia(relay.port(), peer.host, "/");
    expect(up.body.toString()).toBe("back");
    expect(peer.tunnel.state.kind).toBe("connected");
  });

  it("100 tunnels come back after a relay restart, their reconnects spread by jitter", async () => {
    const local = await startLocalServer((req, res) => res.end(String(req.headers["x-agent-id"])));
    const relay1 = await startRelay();
    const port = relay1.port();
    const peers = await Promise.all(
      Array.from({ length: 100 }, () =>
        startPeer(relay1, local.url, {
          backoff: { baseMs: 100, capMs: 1000, resetAfterMs: 60_000 },
          probe: false,
        }),
      ),
    );
    const attempts: number[] = [];
    for (const p of peers) p.tunnel.on("attempt", (t) => attempts.push(t));
    await relay1.close();
    const relay2 = await startRelay({ port });
    const back = await within(20_000, async () => relay2.registry.size === 100);
    expect(back).toBeGreaterThanOrEqual(0);
    const answers = await Promise.all(peers.map((p) => fetchVia(port, p.host, "/")));
    answers.forEach((a, i) => {
      expect(a.body.toString()).toBe(peers[i]!.agentId);
    });
    // Jitter: the first reconnect attempts did not all land in the same few milliseconds.
    const first100 = attempts.slice(0, 100).sort((a, b) => a - b);
    expect(first100[first100.length - 1]! - first100[0]!).toBeGreaterThan(20);
  });
});
