/**
 * Test harness: a real relay, real peers and real local HTTP servers on 127.0.0.1. Everything
 * started here is stopped by `cleanup()` (call it in afterEach/afterAll).
 */
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import pino from "pino";
import { AgentTunnel, type AgentTunnelOptions, type TunnelState } from "../../src/peer/agent-tunnel.ts";
import { AgentIdentity } from "../../src/peer/identity.ts";
import type { RelayConfig } from "../../src/relay/config.ts";
import { createRelay, type Relay } from "../../src/relay/server.ts";

export const silent = pino({ level: "silent" });

type Closer = () => Promise<void> | void;
const closers: Closer[] = [];

export async function cleanup(): Promise<void> {
  for (const c of closers.splice(0).reverse()) await c();
}

export async function startRelay(config: Partial<RelayConfig> = {}): Promise<Relay & { origin: string }> {
  const relay = createRelay(
    { host: "127.0.0.1", port: 0, domain: "localhost", logLevel: "silent", ...config },
    silent,
  );
  const port = await relay.listen();
  closers.push(() => relay.close());
  return Object.assign(relay, { origin: `ws://127.0.0.1:${port}` });
}

export async function startLocalServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { server, url: `http://127.0.0.1:${port}`, port };
}

/**
 * A local server that speaks raw TCP, for answers no HTTP library would write: `answer` runs once
 * per request head on a connection (`nth` counts them), with the head's text.
 */
export async function startRawLocalServer(
  answer: (socket: Socket, nth: number, head: string) => void,
): Promise<{ url: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createTcpServer((socket) => {
    sockets.push(socket);
    let buffered = "";
    let nth = 0;
    socket.on("error", () => {});
    socket.on("data", (c) => {
      buffered += c.toString("latin1");
      for (let end = buffered.indexOf("\r\n\r\n"); end !== -1; end = buffered.indexOf("\r\n\r\n")) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        answer(socket, nth++, head);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

export interface StartedPeer {
  tunnel: AgentTunnel;
  identity: AgentIdentity;
  agentId: string;
  /** The public URL's host, for the Host header. */
  host: string;
  url: string;
}

/** Starts a peer for a (new or given) identity and waits until it is connected. */
export async function startPeer(
  relay: Relay & { origin: string },
  target: string,
  extra: Partial<AgentTunnelOptions> = {},
): Promise<StartedPeer> {
  const identity = extra.identity ?? AgentIdentity.generate();
  const agentId = extra.agentId ?? crypto.randomUUID();
  const tunnel = new AgentTunnel({
    name: "test",
    agentId,
    identity,
    relayUrl: relay.origin,
    target: new URL(target),
    log: silent,
    ...extra,
  });
  closers.push(() => tunnel.stop());
  tunnel.start();
  const state = await waitForState(tunnel, (s) => s.kind === "connected");
  const url = (state as { url: string }).url;
  return { tunnel, identity, agentId, url, host: new URL(url).host };
}

export function waitForState(tunnel: AgentTunnel, pred: (s: TunnelState) => boolean): Promise<TunnelState> {
  if (pred(tunnel.state)) return Promise.resolve(tunnel.state);
  return new Promise((resolve) => {
    const on = (s: TunnelState) => {
      if (pred(s)) {
        tunnel.off("state", on);
        resolve(s);
      }
    };
    tunnel.on("state", on);
  });
}

export interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** An HTTP request to the relay at 127.0.0.1:port with the given Host header. */
export function fetchVia(
  port: number,
  host: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string; agent?: false } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? "GET",
        headers: { host, ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}
