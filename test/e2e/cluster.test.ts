import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:http2";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { tempHome } from "../helpers/cli.ts";
import {
  type Answer,
  cleanup,
  fetchVia,
  startLocalServer,
  startPeer,
  startRelay,
  waitForState,
} from "../helpers/harness.ts";
import { type RedisProc, startRedis } from "../helpers/redis.ts";

let redis: RedisProc | undefined;
afterEach(async () => {
  await cleanup();
  await redis?.stop();
});

function secretFile(): string {
  const f = join(tempHome(), "cluster.secret");
  writeFileSync(f, "a-cluster-secret-for-tests-only\n", { mode: 0o600 });
  return f;
}

async function node(redisUrl: string, secret: string, nodeId: string) {
  return startRelay({
    cluster: redisUrl,
    nodeId,
    internalListen: { host: "127.0.0.1", port: 0 },
    clusterSecretFile: secret,
    clusterLeaseMs: 1000,
  });
}

/** Retries until `ok` or the deadline: ownership claims reach Redis just after a tunnel logs in. */
async function eventually(
  send: () => Promise<Answer>,
  ok: (a: Answer) => boolean,
  ms = 5000,
): Promise<Answer> {
  const t0 = Date.now();
  let a = await send();
  while (!ok(a) && Date.now() - t0 < ms) {
    await new Promise((r) => setTimeout(r, 20));
    a = await send();
  }
  return a;
}

/** Two nodes; a WebSocket echo server behind a peer on node 1, reached through node 2. */
async function echoAgentOnOtherNode() {
  redis = await startRedis();
  const secret = secretFile();
  const n1 = await node(redis.url, secret, "n1");
  const n2 = await node(redis.url, secret, "n2");
  const local = await startLocalServer((_req, res) => res.end("plain"));
  const wss = new WebSocketServer({ server: local.server });
  wss.on("connection", (ws) => ws.on("message", (m, binary) => ws.send(m, { binary })));
  const peer = await startPeer(n1, local.url);
  const host = `${peer.identity.hexAddress}.localhost:${n2.port()}`;
  await eventually(
    () => fetchVia(n2.port(), host, "/"),
    (r) => r.status === 200,
  );
  return { n2, wss, host };
}

describe("a cluster of relay nodes on Redis", () => {
  it("serves every agent through every node, across nodes in one hop, and follows takeovers", async () => {
    redis = await startRedis();
    const secret = secretFile();
    const nodes = [
      await node(redis.url, secret, "n1"),
      await node(redis.url, secret, "n2"),
      await node(redis.url, secret, "n3"),
    ];
    const blob = randomBytes(64 * 1024 * 1024);
    const locals = await Promise.all(
      [0, 1, 2].map((i) =>
        startLocalServer((req, res) => {
          if (req.url === "/blob") return res.end(blob);
          res.end(`agent${i}:${req.headers["x-forwarded-for"]}:${req.url}`);
        }),
      ),
    );
    const peers = await Promise.all([0, 1, 2].map((i) => startPeer(nodes[i]!, locals[i]!.url)));
    const hostVia = (agent: number, n: number) =>
      `${peers[agent]!.identity.hexAddress}.localhost:${nodes[n]!.port()}`;
    for (let a = 0; a < 3; a++)
      for (let n = 0; n < 3; n++) {
        const r = await eventually(
          () => fetchVia(nodes[n]!.port(), hostVia(a, n), "/warm"),
          (x) => x.status === 200,
        );
        expect(r.body.toString()).toBe(`agent${a}:127.0.0.1:/warm`);
      }

    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        fetchVia(nodes[i % 3]!.port(), hostVia((i * 7) % 3, i % 3), `/r${i}`),
      ),
    );
    answers.forEach((r, i) => {
      expect(r.body.toString()).toBe(`agent${(i * 7) % 3}:127.0.0.1:/r${i}`);
    });

    const big = await fetchVia(nodes[1]!.port(), hostVia(0, 1), "/blob");
    expect(createHash("sha256").update(big.body).digest("hex")).toBe(
      createHash("sha256").update(blob).digest("hex"),
    );

    // Takeover across nodes: the same key logs in on node 3; node 1's tunnel is told it was superseded.
    const newer = await startLocalServer((req, res) => res.end(`newer:${req.url}`));
    await startPeer(nodes[2]!, newer.url, { identity: peers[0]!.identity });
    const old = await waitForState(peers[0]!.tunnel, (s) => s.kind === "error");
    expect(old).toMatchObject({ kind: "error", reason: expect.stringMatching(/superseded/) });
    const after = await eventually(
      () => fetchVia(nodes[0]!.port(), hostVia(0, 0), "/who"),
      (x) => x.body.toString() === "newer:/who",
    );
    expect(after.body.toString()).toBe("newer:/who");

    const metrics = await fetch(`http://127.0.0.1:${nodes[1]!.port()}/health`).then((r) => r.json());
    expect(metrics).toMatchObject({ status: "ok", cluster: "ok" });
  });

  it("keeps local tunnels up while Redis is down, answers cluster_unavailable across nodes, and recovers", async () => {
    redis = await startRedis();
    const secret = secretFile();
    const n1 = await node(redis.url, secret, "n1");
    const n2 = await node(redis.url, secret, "n2");
    const local = await startLocalServer((req, res) => res.end(`ok:${req.url}`));
    const a = await startPeer(n1, local.url);
    const b = await startPeer(n1, local.url);
    const via2 = (p: typeof a) => `${p.identity.hexAddress}.localhost:${n2.port()}`;
    expect(
      (
        await eventually(
          () => fetchVia(n2.port(), via2(a), "/x"),
          (r) => r.status === 200,
        )
      ).status,
    ).toBe(200);

    await redis.stop();
    const degraded = await eventually(
      () => fetchVia(n2.port(), `localhost:${n2.port()}`, "/health"),
      (r) => r.status === 200 && JSON.parse(r.body.toString()).status === "degraded",
    );
    expect(JSON.parse(degraded.body.toString())).toMatchObject({ status: "degraded", cluster: "degraded" });
    // Local traffic on the node holding the tunnels is untouched.
    expect((await fetchVia(n1.port(), a.host, "/local")).body.toString()).toBe("ok:/local");
    // A route node 2 never looked up cannot be found without Redis.
    const lost = await fetchVia(n2.port(), via2(b), "/y");
    expect(lost.status).toBe(502);
    expect(JSON.parse(lost.body.toString())).toEqual({ error: "cluster_unavailable" });

    await redis.restart(); // empty: node 1 claims its live tunnels again
    const back = await eventually(
      () => fetchVia(n2.port(), via2(b), "/z"),
      (r) => r.status === 200,
      10_000,
    );
    expect(back.body.toString()).toBe("ok:/z");
  });

  it("carries a WebSocket to an agent on another node, byte for byte", async () => {
    const { n2, wss, host } = await echoAgentOnOtherNode();
    const ws = new WebSocket(`ws://127.0.0.1:${n2.port()}/socket`, { headers: { host } });
    await new Promise((r, j) => {
      ws.once("open", r);
      ws.once("error", j);
    });
    const big = randomBytes(2 * 1024 * 1024);
    const echoes: Buffer[] = [];
    const done = new Promise<void>((resolve) =>
      ws.on("message", (m: Buffer) => {
        echoes.push(m);
        if (echoes.length === 101) resolve();
      }),
    );
    for (let i = 0; i < 100; i++) ws.send(`m${i}`);
    ws.send(big);
    await done;
    expect(echoes.slice(0, 100).map(String)).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(echoes[100]!.equals(big)).toBe(true);
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.close(4321);
    expect(await closed).toBe(4321);
    wss.close();
  });

  it("carries an HTTP/2 WebSocket (extended CONNECT) to an agent on another node", async () => {
    const { n2, wss, host } = await echoAgentOnOtherNode();
    const session = connect(`http://127.0.0.1:${n2.port()}`);
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    const stream = session.request(
      {
        ":method": "CONNECT",
        ":protocol": "websocket",
        ":scheme": "http",
        ":path": "/ws",
        ":authority": host,
        "sec-websocket-version": "13",
      },
      { endStream: false },
    );
    const status = await new Promise<number>((resolve) =>
      stream.once("response", (h) => resolve(Number(h[":status"]))),
    );
    expect(status).toBe(200);
    // One masked text frame out; the echo comes back as one unmasked frame.
    const text = Buffer.from("hello across nodes over h2");
    const mask = randomBytes(4);
    const masked = Buffer.from(text.map((b, i) => b ^ mask[i % 4]!));
    stream.write(Buffer.concat([Buffer.from([0x81, 0x80 | text.byteLength]), mask, masked]));
    const echo = await new Promise<Buffer>((resolve) => {
      let buf = Buffer.alloc(0);
      stream.on("data", (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (buf.byteLength >= 2 && buf.byteLength >= 2 + buf[1]!) resolve(buf.subarray(2, 2 + buf[1]!));
      });
    });
    expect(echo.toString()).toBe(text.toString());
    stream.close();
    session.close();
    wss.close();
  });

  it("passes the owner's own refusal of a cross-node WebSocket on to the client", async () => {
    redis = await startRedis();
    const secret = secretFile();
    // The owner allows one request per minute for the agent, loopback included.
    const n1 = await startRelay({
      cluster: redis.url,
      nodeId: "n1",
      internalListen: { host: "127.0.0.1", port: 0 },
      clusterSecretFile: secret,
      clusterLeaseMs: 1000,
      requestRatePerMin: 1,
      rateLimitExempt: [],
    });
    const n2 = await node(redis.url, secret, "n2");
    const local = await startLocalServer((_req, res) => res.end("plain"));
    const peer = await startPeer(n1, local.url, { probe: false });
    const host = `${peer.identity.hexAddress}.localhost:${n2.port()}`;
    await eventually(
      () => fetchVia(n2.port(), host, "/"),
      (r) => r.status === 200,
    );
    const status = await new Promise<{ code: number; body: string; retry?: string }>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${n2.port()}/socket`, { headers: { host } });
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () =>
          resolve({ code: res.statusCode ?? 0, body, retry: res.headers["retry-after"] as string }),
        );
      });
      ws.on("error", () => {});
    });
    expect(status.code).toBe(429);
    expect(JSON.parse(status.body)).toEqual({ error: "rate_limited" });
    expect(Number(status.retry)).toBeGreaterThan(0);
  });

  it("passes 100 Continue across nodes, so a client waiting for it sends its body", async () => {
    redis = await startRedis();
    const secret = secretFile();
    const n1 = await node(redis.url, secret, "n1");
    const n2 = await node(redis.url, secret, "n2");
    const local = await startLocalServer((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.byteLength;
      });
      req.on("end", () => res.end(`got ${n}`));
    });
    const peer = await startPeer(n1, local.url);
    const host = `${peer.identity.hexAddress}.localhost:${n2.port()}`;
    await eventually(
      () => fetchVia(n2.port(), host, "/"),
      (r) => r.status === 200,
    );
    const answer = await new Promise<string>((resolve, reject) => {
      const req = request({
        host: "127.0.0.1",
        port: n2.port(),
        method: "PUT",
        path: "/up",
        headers: { host, expect: "100-continue", "content-length": 5 },
      });
      // The body goes only after the 100 arrives.
      req.on("continue", () => req.end("hello"));
      req.on("response", (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    expect(answer).toBe("got 5");
  });

  it("refuses internal requests without the cluster secret", async () => {
    redis = await startRedis();
    const n1 = await node(redis.url, secretFile(), "n1");
    const session = connect(`http://127.0.0.1:${n1.internalPort()}`);
    const status = await new Promise<number>((resolve) => {
      const req = session.request({
        ":path": "/",
        "x-agent-relay-address": AgentIdentity.generate().hexAddress,
        "x-agent-relay-cluster-secret": "not-the-secret",
      });
      req.on("response", (h) => resolve(Number(h[":status"])));
      req.resume();
      req.end();
    });
    session.close();
    expect(status).toBe(401);
  });
});
