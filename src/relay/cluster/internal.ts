/**
 * The internal hop between relay nodes: a public request that reached a node without the agent's
 * tunnel goes, as one HTTP/2 stream over a persistent h2c connection, to the node that owns the
 * tunnel. At most one hop: the owning node serves it from its own tunnel or answers itself.
 * spec/CLUSTER.md, "Forwarding".
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  createServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import type { AddressInfo } from "node:net";

/** Headers of the internal hop; never accepted from the public side. */
export const CLUSTER_HEADERS = {
  secret: "x-agent-relay-cluster-secret",
  address: "x-agent-relay-address",
  clientIp: "x-agent-relay-client-ip",
  proto: "x-agent-relay-client-proto",
  fromNode: "x-agent-relay-from-node",
  /** A raw stream (upgrades): after the owner's 200 the stream carries the tunnel's bytes both ways. */
  raw: "x-agent-relay-raw",
} as const;

const INTERNAL = new Set<string>(Object.values(CLUSTER_HEADERS));

/** Request headers HTTP/2 forbids or that describe the hop, not the request. */
const NOT_FORWARDED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "te",
  "http2-settings",
]);

export function sameSecret(given: string | string[] | undefined, secret: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

export type PublicReq = IncomingMessage | Http2ServerRequest;
export type PublicRes = ServerResponse | Http2ServerResponse;

export interface ForwardMeta {
  address: string;
  clientIp: string;
  proto: string;
  fromNode: string;
}

/** h2 request headers for the hop: the client's headers, the authority, and the hop's own. */
export function hopHeaders(req: PublicReq, meta: ForwardMeta, secret: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name.startsWith(":") || NOT_FORWARDED.has(name) || INTERNAL.has(name)) continue;
    const prev = out[name];
    const value = raw[i + 1]!;
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  const host = (req.headers[":authority"] as string | undefined) ?? req.headers.host ?? "";
  out[":method"] = req.method ?? "GET";
  out[":path"] = req.url ?? "/";
  out[":authority"] = host;
  out[CLUSTER_HEADERS.secret] = secret;
  out[CLUSTER_HEADERS.address] = meta.address;
  out[CLUSTER_HEADERS.clientIp] = meta.clientIp;
  out[CLUSTER_HEADERS.proto] = meta.proto;
  out[CLUSTER_HEADERS.fromNode] = meta.fromNode;
  return out;
}

/** Response headers coming back over the hop, made safe for either public protocol. */
export function answerHeaders(h: IncomingHttpHeaders): { status: number; headers: OutgoingHttpHeaders } {
  const headers: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(":") || NOT_FORWARDED.has(k) || v === undefined) continue;
    headers[k] = v;
  }
  return { status: Number(h[":status"] ?? 502), headers };
}

/** A raw hop: the open stream, or the owner's own refusal. */
export type RawHop = { stream: ClientHttp2Stream } | { refused: { code: string; retryAfter?: string } };

export class HopError extends Error {
  override name = "HopError";
}

/** Persistent h2c connections to the other nodes, one per internal URL. */
export class HopClient {
  private readonly sessions = new Map<string, ClientHttp2Session>();

  constructor(
    private readonly secret: string,
    private readonly nodeId: string,
  ) {}

  private session(url: string): ClientHttp2Session {
    const existing = this.sessions.get(url);
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const s = connect(url);
    const forget = () => {
      if (this.sessions.get(url) === s) this.sessions.delete(url);
    };
    s.on("error", forget);
    s.on("close", forget);
    s.on("goaway", forget);
    s.setTimeout(60_000, () => s.close());
    s.unref();
    this.sessions.set(url, s);
    return s;
  }

  /**
   * Sends `req` to the node at `url` and streams the answer into `res`, with backpressure both
   * ways. Calls `onError` if the hop fails before any answer arrived.
   */
  forward(
    url: string,
    req: PublicReq,
    res: PublicRes,
    meta: Omit<ForwardMeta, "fromNode">,
    onError: (err: Error) => void,
    onAnswer?: (status: number) => void,
  ): void {
    let h2req: ReturnType<ClientHttp2Session["request"]>;
    try {
      h2req = this.session(url).request(hopHeaders(req, { ...meta, fromNode: this.nodeId }, this.secret));
    } catch (err) {
      return onError(new HopError((err as Error).message));
    }
    let answered = false;
    let failed = false;
    const fail = (err: Error) => {
      if (answered || failed) return;
      failed = true;
      onError(err);
    };
    // The owner's local server decides on 100 Continue; pass it on to the waiting client.
    h2req.on("continue", () => (res as ServerResponse).writeContinue());
    h2req.on("response", (h) => {
      answered = true;
      const { status, headers } = answerHeaders(h);
      onAnswer?.(status);
      (res as ServerResponse).writeHead(status, headers as Record<string, string | string[]>);
      (res as ServerResponse).flushHeaders?.();
      h2req.pipe(res as NodeJS.WritableStream);
    });
    h2req.on("error", (err) => {
      if (!answered) fail(new HopError(err.message));
      else res.destroy();
    });
    h2req.on("close", () => {
      if (h2req.rstCode !== constants.NGHTTP2_NO_ERROR) fail(new HopError("hop reset"));
    });
    res.on("close", () => {
      if (!res.writableFinished && !h2req.closed) h2req.close(constants.NGHTTP2_CANCEL);
    });
    (req as NodeJS.ReadableStream).pipe(h2req);
  }

  /**
   * A raw byte stream to the agent's tunnel on the owning node, for upgrades (WebSockets): once the
   * owner answers 200, what this node writes goes into the yamux stream there and what comes back
   * is the local server's bytes. Resolves with the h2 stream, or rejects if the owner refused.
   */
  openRaw(url: string, req: PublicReq, meta: Omit<ForwardMeta, "fromNode">): Promise<RawHop> {
    const headers = hopHeaders(req, { ...meta, fromNode: this.nodeId }, this.secret);
    headers[":method"] = "POST";
    headers[CLUSTER_HEADERS.raw] = "1";
    return new Promise((resolve, reject) => {
      let h2req: ClientHttp2Stream;
      try {
        h2req = this.session(url).request(headers, { endStream: false });
      } catch (err) {
        return reject(new HopError((err as Error).message));
      }
      h2req.once("response", (h) => {
        if (Number(h[":status"]) === 200) return resolve({ stream: h2req });
        // The owner answered itself (agent_offline, rate_limited, ...): read its small JSON error.
        let body = "";
        h2req.setEncoding("utf8");
        h2req.on("data", (c: string) => {
          if (body.length < 256) body += c;
        });
        h2req.on("end", () => {
          const code = /"error":"([a-z_]+)"/.exec(body)?.[1] ?? "cluster_unavailable";
          const retryAfter = h["retry-after"];
          resolve({ refused: { code, ...(typeof retryAfter === "string" ? { retryAfter } : {}) } });
        });
      });
      h2req.once("error", (err) => reject(new HopError(err.message)));
      h2req.once("close", () => reject(new HopError("hop reset")));
    });
  }

  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}

export interface HopServer {
  server: Http2Server;
  port: number;
  close(): Promise<void>;
}

/**
 * The internal listener. Every stream must carry the cluster secret (else `401 unauthorized`); the
 * request is then handed to `serve` with the original client's address, never forwarded again.
 */
export async function startHopServer(
  host: string,
  port: number,
  secret: string,
  serve: (req: Http2ServerRequest, res: Http2ServerResponse, meta: ForwardMeta) => void,
  reject: (res: Http2ServerResponse, status: number, code: string) => void,
): Promise<HopServer> {
  const handle = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    if (!sameSecret(req.headers[CLUSTER_HEADERS.secret], secret)) return reject(res, 401, "unauthorized");
    const address = req.headers[CLUSTER_HEADERS.address];
    if (typeof address !== "string" || !/^[0-9a-f]{40}$/.test(address))
      return reject(res, 400, "bad_request");
    serve(req, res, {
      address,
      clientIp: String(req.headers[CLUSTER_HEADERS.clientIp] ?? ""),
      proto: String(req.headers[CLUSTER_HEADERS.proto] ?? "http"),
      fromNode: String(req.headers[CLUSTER_HEADERS.fromNode] ?? ""),
    });
  };
  const server = createServer(handle);
  // The agent's local server decides on 100 Continue (it travels back over the hop); Node would
  // otherwise answer it here as well.
  server.on("checkContinue", handle);
  server.on("sessionError", () => {});
  const sessions = new Set<import("node:http2").ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, rejectListen) => {
    server.once("error", rejectListen);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) {
          s.close();
          setTimeout(() => s.destroy(), 1000).unref();
        }
      }),
  };
}
