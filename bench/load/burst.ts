/**
 * `count` requests in flight at once, each on its own connection, to a path the local server holds
 * open. First every connection is set up (at most `maxConnecting` at a time, so no listen queue
 * overflows); then every request is written in one go, so all of them really are in flight at
 * once. Raw HTTP/1.1 over TCP: an `http` client per request could not issue 10,000 within the hold.
 */
import { connect, type Socket } from "node:net";
import type { Target } from "./http-client.ts";

export interface BurstJob extends Target {
  count: number;
  path: string;
  /** Connections being set up at once. */
  maxConnecting: number;
  timeoutMs: number;
}

export interface BurstResult {
  ok: number;
  failed: number;
  /** From the first request written until the last answer. */
  seconds: number;
  /** Time to set up the connections, before any request. */
  connectSeconds: number;
  /** Count per HTTP status (with the relay's error code) or socket error code, for the failures. */
  failures: Record<string, number>;
}

/** Opens one connection; resolves with the socket, or with the error code. */
function open(port: number): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port, noDelay: true });
    s.once("connect", () => {
      s.removeAllListeners("error");
      resolve(s);
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Writes the request and reads the whole answer; resolves with "200" or a failure key. */
function exchange(s: Socket, request: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    let head = "";
    let done = false;
    const finish = (key: string) => {
      if (done) return;
      done = true;
      s.destroy();
      resolve(key);
    };
    s.setTimeout(timeoutMs, () => finish("timeout"));
    s.on("data", (chunk: Buffer) => {
      if (head.length < 1024) head += chunk.toString("latin1", 0, Math.min(chunk.byteLength, 1024));
    });
    s.on("error", (err: NodeJS.ErrnoException) => finish(head ? keyOf(head) : (err.code ?? err.message)));
    s.on("end", () => finish(head ? keyOf(head) : "closed without an answer"));
    s.write(request);
  });
}

function keyOf(head: string): string {
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? "malformed answer";
  if (status === "200") return status;
  const code = /\r\nx-agent-relay-error: *([a-z_]+)/i.exec(head)?.[1];
  return code ? `${status} ${code}` : status;
}

export async function burst(job: BurstJob): Promise<BurstResult> {
  const failures: Record<string, number> = {};
  const fail = (key: string) => {
    failures[key] = (failures[key] ?? 0) + 1;
  };
  const connectStarted = performance.now();
  const sockets: Socket[] = [];
  let next = 0;
  const opener = async () => {
    while (next < job.count) {
      next++;
      const s = await open(job.port);
      if (typeof s === "string") fail(s);
      else sockets.push(s);
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.maxConnecting, job.count) }, opener));
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  const host = job.host ?? `127.0.0.1:${job.port}`;
  const request = `GET ${job.path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  const started = performance.now();
  const keys = await Promise.all(sockets.map((s) => exchange(s, request, job.timeoutMs)));
  const seconds = (performance.now() - started) / 1000;
  let ok = 0;
  for (const k of keys) {
    if (k === "200") ok++;
    else fail(k);
  }
  return { ok, failed: job.count - ok, seconds, connectSeconds, failures };
}
