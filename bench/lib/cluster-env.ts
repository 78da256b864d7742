/**
 * A two-node cluster for the cross-node scenario: a throwaway redis-server on a loopback port, relay
 * nodes `a` and `b` started through the CLI with `--cluster`, one `agent-relay up` peer on node A in
 * front of the local server, and the load generator. The same agent is reached through node A (its
 * own tunnel: single-node) and through node B (one internal hop to A: cross-node).
 */

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { send, type Target } from "../load/http-client.ts";
import { stopEach } from "./env.ts";
import {
  createAgent,
  type IpcProc,
  Proc,
  startLoadWorker,
  startLocalServer,
  startRelay,
  startUp,
  tempDir,
} from "./procs.ts";

export interface ClusterEnv {
  relayA: Proc;
  relayB: Proc;
  peer: Proc;
  load: IpcProc;
  /** The agent through node A, which holds its tunnel. */
  single: Target;
  /** The agent through node B, which forwards to node A. */
  cross: Target;
  /** Throws if redis, a relay, the peer or the local server has exited. */
  check(): void;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `redis-server` on a free loopback port, without persistence. Resolves once it accepts connections. */
async function startRedis(): Promise<{ proc: Proc; url: string }> {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("redis-server is not on the PATH (Debian package redis-server)");
  }
  const port = await freePort();
  const proc = new Proc(
    "redis",
    spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: ["ignore", "pipe", "pipe"] },
    ),
  );
  await proc.waitForOutput(/Ready to accept connections/, 15_000);
  return { proc, url: `redis://127.0.0.1:${port}` };
}

/** Waits (bounded) until node B answers the agent's `/small` with 200: A's claim is visible in Redis. */
async function waitRoutable(t: Target): Promise<void> {
  let last = "";
  for (let i = 0; i < 100; i++) {
    const o = await send(t, "/small", { timeoutMs: 2000 });
    if (o.status === 200) return;
    last = o.error ?? `${o.status} ${o.relayError ?? ""}`;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`node B never routed to node A's tunnel; last answer: ${last}`);
}

export async function startClusterEnv(): Promise<ClusterEnv> {
  const home = tempDir("home");
  const secrets = tempDir("cluster");
  const secretFile = join(secrets.path, "cluster.secret");
  writeFileSync(secretFile, randomBytes(24).toString("base64"), { mode: 0o600 });
  const started: Proc[] = [];
  const keep = <T extends { proc: Proc }>(p: Promise<T>) =>
    p.then((x) => {
      started.push(x.proc);
      return x;
    });
  const cleanup = async () => {
    await stopEach(started);
    home.remove();
    secrets.remove();
  };
  try {
    const load = startLoadWorker();
    started.push(load);
    const redis = await keep(startRedis());
    const node = (id: string) => [
      "--cluster",
      redis.url,
      "--node-id",
      id,
      "--internal-listen",
      "127.0.0.1:0",
      "--cluster-secret-file",
      secretFile,
      "--metrics-listen",
      "off",
    ];
    const [local, a, b] = await Promise.all([
      keep(startLocalServer()),
      keep(startRelay(0, node("a"))),
      keep(startRelay(0, node("b"))),
      createAgent(home.path, "bench"),
      load.ready,
    ]);
    const peer = await keep(startUp(home.path, "bench", a.port, local.port, ["--secure-channel", "never"]));
    const address = peer.host.split(".")[0]!;
    const cross = { port: b.port, host: `${address}.localhost:${b.port}` };
    await waitRoutable(cross);
    return {
      relayA: a.proc,
      relayB: b.proc,
      peer: peer.proc,
      load,
      single: { port: a.port, host: peer.host },
      cross,
      check: () => {
        for (const p of [redis.proc, a.proc, b.proc, peer.proc, local.proc]) p.assertRunning();
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
