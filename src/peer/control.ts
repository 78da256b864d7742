/**
 * The control socket of a running `up`: a Unix socket at <home>/peer.sock, mode 0600, answering
 * one JSON request per connection with one JSON line. Used by `agent-relay status`.
 */
import { chmodSync, existsSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import type { AgentStatus, PeerDaemon } from "./daemon.ts";

export function controlPath(home: string): string {
  return join(home, "peer.sock");
}

export class ControlError extends Error {
  override name = "ControlError";
}

/** Serves status requests; refuses to start if another peer already answers on the socket. */
export async function serveControl(home: string, daemon: PeerDaemon): Promise<Server> {
  const path = controlPath(home);
  if (existsSync(path)) {
    const alive = await queryControl(home).then(
      () => true,
      () => false,
    );
    if (alive) throw new ControlError("another `agent-relay up` is already running for this config folder");
    unlinkSync(path);
  }
  const server = createServer((socket) => {
    let buf = "";
    socket.setEncoding("utf8");
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > 4096) return socket.destroy();
      if (!buf.includes("\n")) return;
      let cmd: unknown;
      try {
        cmd = (JSON.parse(buf.slice(0, buf.indexOf("\n"))) as { cmd?: unknown }).cmd;
      } catch {
        cmd = undefined;
      }
      if (cmd === "status") socket.end(`${JSON.stringify({ pid: process.pid, agents: daemon.status() })}\n`);
      else socket.end(`${JSON.stringify({ error: "unknown_command" })}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return server;
}

export interface StatusReply {
  pid: number;
  agents: AgentStatus[];
}

export function queryControl(home: string, timeoutMs = 3000): Promise<StatusReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(controlPath(home));
    let buf = "";
    socket.setEncoding("utf8");
    socket.setTimeout(timeoutMs, () => socket.destroy(new ControlError("the running peer did not answer")));
    socket.on("connect", () => socket.write('{"cmd":"status"}\n'));
    socket.on("data", (c: string) => {
      buf += c;
    });
    socket.on("end", () => {
      try {
        resolve(JSON.parse(buf) as StatusReply);
      } catch {
        reject(new ControlError("the running peer sent a malformed answer"));
      }
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
        reject(new ControlError("no `agent-relay up` is running for this config folder"));
      } else reject(err);
    });
  });
}
