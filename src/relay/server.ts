/**
 * The relay node. Request path, one straight line:
 *   public socket (listener.ts) → router (here) → tunnel registry → stream (proxy.ts, upgrade.ts).
 * Limits, metrics, the access log, health and shutdown each live in their own file; this one wires
 * them together and routes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ClientHttp2Stream, Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Socket } from "node:net";
import { hostname } from "node:os";
import type { Duplex } from "node:stream";
import pino, { type Logger } from "pino";
import { TUNNEL_PATH } from "../protocol/constants.ts";
import { HTTP_ERRORS, type HttpErrorCode } from "../protocol/errors.ts";
import { Slots } from "../util/slots.ts";
import { StreamDuplex } from "../yamux/duplex.ts";
import { GoAwayCode } from "../yamux/frame.ts";
import { logExchange } from "./access-log.ts";
import { clientIp } from "./client-ip.ts";
import type { Cluster, ClusterConfig } from "./cluster/cluster.ts";
import { CLUSTER_HEADERS } from "./cluster/internal.ts";
import {
  addressList,
  agentUrl,
  allowedOrigins,
  ConfigError,
  publicBase,
  type RelayConfig,
  readClusterSecret,
  verifyRelayConfig,
} from "./config.ts";
import { Exchange, pathOf } from "./exchange.ts";
import { type ForwardInfo, forwardPlainRequestHead, forwardRequestHeaders } from "./forward-headers.ts";
import { H1Lane, type LaneServe, REFUSED } from "./h1-lane.ts";
import { isHealthRequest, sendHealth } from "./health.ts";
import { routeHost } from "./host.ts";
import { type PublicResponse, rawError, sendError } from "./http-errors.ts";
import { IdleSweeper } from "./idle-sweeper.ts";
import { LaneExchange } from "./lane-exchange.ts";
import { Limits } from "./limits.ts";
import { PublicListener } from "./listener.ts";
import { RelayMetrics } from "./metrics.ts";
import { MetricsServer } from "./metrics-server.ts";
import { proxyRequest, requestHead } from "./proxy.ts";
import {
  type AnyRequest,
  clientOf,
  h2HeadSize,
  hostOf,
  protocolOf,
  protoFrom,
  protoOf,
} from "./public-request.ts";
import { TunnelRegistry } from "./registry.ts";
import { readTlsPair } from "./tls.ts";
import type { Tunnel } from "./tunnel.ts";
import { TunnelEndpoint } from "./tunnel-endpoint.ts";
import { proxyExtendedConnect, proxyUpgrade } from "./upgrade.ts";

export interface Relay {
  readonly config: RelayConfig;
  readonly registry: TunnelRegistry;
  readonly metrics: RelayMetrics;
  /** True from the start of a shutdown. */
  readonly draining: boolean;
  /** Starts the public listener (and the metrics listener, if configured); returns the bound port. */
  listen(): Promise<number>;
  /** The bound port (after listen). */
  port(): number;
  /** The metrics listener's bound port, if there is one. */
  metricsPort(): number | undefined;
  /** The cluster's internal listener port, on a cluster node. */
  internalPort(): number | undefined;
  /** Public URL of an agent by 40-hex address. */
  urlFor(address: string): string;
  /**
   * Graceful shutdown (SIGTERM): stop accepting, let in-flight requests finish for up to the drain
   * timeout, send every tunnel a "restarting" GoAway, then close.
   */
  drain(): Promise<void>;
  /** The same, without waiting for in-flight requests. */
  close(): Promise<void>;
  /** Re-reads the TLS certificate and key; false, keeping the old pair, if they do not load. */
  reloadTls(): boolean;
}

type Refusal = { code: HttpErrorCode; headers?: Record<string, string> };

/** What to answer when no raw hop to the owning node was opened: the owner's own error if it gave one. */
function hopRefusal(
  r: { outcome: "refused"; code: string; retryAfter?: string } | { outcome: "offline" | "unavailable" },
): [HttpErrorCode, Record<string, string>] {
  if (r.outcome === "offline") return ["agent_offline", {}];
  if (r.outcome === "refused" && Object.hasOwn(HTTP_ERRORS, r.code))
    return [r.code as HttpErrorCode, r.retryAfter ? { "Retry-After": r.retryAfter } : {}];
  return ["cluster_unavailable", {}];
}

/**
 * A raw hop stream to another node stands in for a yamux stream in the upgrade paths: they use it
 * only as a Duplex (plus the socket no-ops Node's HTTP client may call).
 */
function asStream(s: ClientHttp2Stream): Duplex {
  return Object.assign(s, { setNoDelay: () => s, setKeepAlive: () => s });
}

/** Repeated header values as Node joins them (`req.headers`): undefined for none. */
function joined(raw: string[]): string | undefined {
  if (raw.length === 0) return undefined;
  let out = raw[1]!;
  for (let i = 3; i < raw.length; i += 2) out += `, ${raw[i]}`;
  return out;
}

export function createRelay(input: Partial<RelayConfig>, logger?: Logger): Relay {
  const config = verifyRelayConfig(input);
  const log = logger ?? pino({ level: config.logLevel, base: { role: "relay" } });
  const tls = config.tlsCert ? readTlsPair(config.tlsCert, config.tlsKey!) : undefined;
  const trusted = config.trustProxy.length > 0 ? addressList(config.trustProxy, "trust-proxy") : null;
  const registry = new TunnelRegistry();
  const limits = new Limits(config);
  const idle = new IdleSweeper(config.idleTimeoutMs);
  const inflight = new Slots<Exchange>();
  const startedAt = Date.now();
  let draining = false;
  let boundPort = config.port;
  let metricsPort: number | undefined;
  let origins: ReadonlySet<string> = allowedOrigins(config, boundPort);
  let base = publicBase(config, boundPort);
  const urlFor = (address: string) => agentUrl(base, address);

  // The cluster (and Redis client) load only on a node that joins one.
  const clusterConfig: ClusterConfig | undefined = config.cluster
    ? {
        redisUrl: config.cluster,
        nodeId: config.nodeId ?? `${hostname()}-${process.pid}`,
        internalHost: config.internalListen?.host ?? "127.0.0.1",
        internalPort: config.internalListen?.port ?? 9101,
        ...(config.internalUrl ? { internalUrl: config.internalUrl } : {}),
        secret: readClusterSecret(config.clusterSecretFile!),
        leaseMs: config.clusterLeaseMs,
      }
    : undefined;
  let cluster: Cluster | undefined;

  const vitals = {
    tunnels: () => registry.size,
    streams: () => registry.streamCount(),
    draining: () => draining,
  };
  let laneRequests = 0;
  const metrics = new RelayMetrics({
    ...vitals,
    laneRequests: () => laneRequests,
    pendingTunnels: () => limits.pendingCount(),
    ...(clusterConfig
      ? {
          cluster: {
            up: () => cluster?.state === "ok",
            owned: () => cluster?.ownedCount ?? 0,
            forwardsMade: () => cluster?.stats.forwardsMade ?? 0,
            forwardsReceived: () => cluster?.stats.forwardsReceived ?? 0,
            forwardErrors: () => cluster?.stats.forwardErrors ?? 0,
            redisErrors: () => cluster?.redisErrors ?? 0,
          },
        }
      : {}),
  });
  const health = {
    ...vitals,
    startedAt,
    ...(clusterConfig ? { cluster: () => cluster?.state ?? ("degraded" as const) } : {}),
  };
  const metricsServer = config.metricsListen ? new MetricsServer(metrics, health) : undefined;
  const endpoint = new TunnelEndpoint({
    config,
    registry,
    log,
    origins: () => origins,
    urlFor,
    limits,
    onAuthResult: (result) => metrics.auth(result),
    onRefused: (code) => metrics.error(code),
    onTakeover: () => metrics.takeover(),
    ...(clusterConfig
      ? { onTunnelUp: (a: string) => cluster?.claim(a), onTunnelDown: (a: string) => cluster?.release(a) }
      : {}),
  });
  const listener = new PublicListener({
    ...(tls ? { tls } : {}),
    maxHeaderBytes: config.maxHeaderBytes,
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    onHeaderTimeout: (socket) => {
      metrics.error("request_timeout");
      socket.end(rawError("request_timeout"));
    },
    h1Lane: (socket, buffered) =>
      new H1Lane(socket, buffered, {
        serve: (lane, req) => laneServe(lane, req),
        toHttp1: (s, b) => listener.toHttp1(s, b),
        maxHeaderBytes: config.maxHeaderBytes,
        keepAliveMs: listener.h1.keepAliveTimeout,
      }),
  });

  // --- the router ---

  const begin = (req: AnyRequest, ip?: string): Exchange => {
    const ex = new Exchange(req.method ?? "", pathOf(req.url), ip ?? clientOf(req, trusted), protocolOf(req));
    inflight.add(ex);
    return ex;
  };

  const finish = (ex: Exchange) => {
    inflight.remove(ex);
    logExchange(log, ex);
    metrics.request(ex.status, ex.seconds, ex.bytesIn, ex.bytesOut);
    if (draining && inflight.size === 0) drained?.();
  };

  const forwardInfo = (req: AnyRequest, ex: Exchange, hop?: Hop): ForwardInfo => ({
    clientIp: ex.ip,
    proto: hop ? (hop.proto === "https" ? "https" : "http") : protoOf(req, listener.tls, trusted),
    host: hostOf(req) ?? "",
    requestId: ex.id,
  });

  /** The checks every request for an agent passes, in order, before it gets a stream. */
  const admit = (req: AnyRequest, ex: Exchange, address: string): Tunnel | Refusal =>
    h2HeadSize(req) > config.maxHeaderBytes
      ? { code: "request_header_too_large" }
      : admitLength(ex, address, Number(req.headers["content-length"] ?? 0));

  /** The same past the head's size, for a request that declares `length` body bytes. */
  const admitLength = (ex: Exchange, address: string, length: number): Tunnel | Refusal => {
    const tunnel = registry.get(address);
    if (!tunnel?.isOpen) return { code: "agent_offline" };
    const waitS = limits.admitRequest(address, ex.ip);
    if (waitS > 0) return { code: "rate_limited", headers: { "Retry-After": `${waitS}` } };
    if (tunnel.isBusy) return { code: "tunnel_busy" };
    if (config.maxBodyBytes > 0 && length > config.maxBodyBytes) return { code: "body_too_large" };
    return tunnel;
  };

  const openStream = (tunnel: Tunnel) => {
    metrics.streamOpened();
    return tunnel.openStream();
  };

  /** The relay's own error for `ex` on a raw socket: recorded, counted, and written as HTTP/1.1. */
  const refusal = (ex: Exchange, code: HttpErrorCode, headers: Record<string, string>): string => {
    ex.error = code;
    ex.status = HTTP_ERRORS[code].status;
    metrics.error(code);
    return rawError(code, { "X-Request-Id": ex.id, ...headers });
  };

  /**
   * A plain HTTP/1.1 request the fast lane read (h1-lane.ts): served here when its agent's tunnel is
   * open on this node. The same steps as `onRequest`, without Node's request and response objects;
   * everything else (the relay's routes, errors before admission, cluster hops) is left to Node.
   */
  const laneServe: LaneServe = (lane, req) => {
    if (draining) return null;
    const route = routeHost(req.host, config.domain);
    if (route.kind !== "agent" || !registry.get(route.address)?.isOpen) return null;
    const { head, method, target } = req;
    const socket = lane.socket;
    const ip = clientIp(
      socket.remoteAddress,
      trusted ? joined(head.fields("x-forwarded-for")) : undefined,
      trusted,
    );
    const ex = new Exchange(method, pathOf(target), ip, "http/1.1");
    laneRequests++;
    inflight.add(ex);
    ex.agent = route.address;
    const refuse = (code: HttpErrorCode, headers: Record<string, string> = {}): typeof REFUSED => {
      lane.refuse(refusal(ex, code, headers));
      finish(ex);
      return REFUSED;
    };
    const admitted = admitLength(ex, route.address, req.length);
    if ("code" in admitted) return refuse(admitted.code, admitted.headers);
    const info: ForwardInfo = {
      clientIp: ip,
      proto: protoFrom(
        trusted ? joined(head.fields("x-forwarded-proto")) : undefined,
        socket.remoteAddress,
        listener.tls,
        trusted,
      ),
      host: req.host,
      requestId: ex.id,
    };
    const bytes =
      forwardPlainRequestHead(head, info) ??
      requestHead(method, target, forwardRequestHeaders(head.headers, info));
    if (bytes === null) return refuse("bad_request");
    return new LaneExchange(
      lane,
      openStream(admitted),
      {
        ex,
        info,
        firstByteTimeoutMs: config.firstByteTimeoutMs,
        idle,
        fail: (code) => {
          ex.error = code;
          metrics.error(code);
        },
        closing: () => draining,
        done: () => finish(ex),
      },
      method,
      bytes,
    );
  };

  /** A request another node forwarded here: route by its address, never forward it again. */
  interface Hop {
    address: string;
    ip: string;
    proto: string;
  }

  const onRequest = (req: AnyRequest, res: PublicResponse, hop?: Hop) => {
    const ex = begin(req, hop?.ip);
    // Every response carries the relay's X-Request-Id. A proxied answer has it in its head
    // (proxy.ts); every other response gets it here. (Set early, it would send Node's writeHead
    // down its slow path, header by header, for every proxied answer.)
    const stamp = () => res.setHeader("X-Request-Id", ex.id);
    if (draining && req.httpVersionMajor === 1) res.setHeader("Connection", "close");
    let gone = false;
    res.once("close", () => {
      gone = true;
      ex.status = res.headersSent ? res.statusCode : 499;
      finish(ex);
    });
    const reject = (code: HttpErrorCode, headers: Record<string, string> = {}) => {
      ex.error = code;
      metrics.error(code);
      if (!res.headersSent) stamp();
      // An HTTP/1.1 body we will not read: close the connection rather than parse it as a request.
      if (req.httpVersionMajor === 1 && !(req as IncomingMessage).complete) headers.Connection = "close";
      sendError(res, code, headers);
    };

    let address: string;
    if (hop) address = hop.address;
    else {
      const host = hostOf(req);
      if (host === null) return reject("bad_request");
      const route = routeHost(host, config.domain);
      if (route.kind === "invalid") return reject("invalid_subdomain");
      if (route.kind === "relay") {
        if (!isHealthRequest(req, ex.path)) return reject("not_found");
        stamp();
        return sendHealth(res, health);
      }
      address = route.address;
    }
    ex.agent = address;
    const websocket = req.method === "CONNECT";
    if (websocket) stamp();
    if (hop && req.headers[CLUSTER_HEADERS.raw] !== undefined) {
      stamp();
      return serveRaw(req as Http2ServerRequest, res as Http2ServerResponse, ex, hop);
    }
    if (websocket && req.headers[":protocol"] !== "websocket") return reject("bad_request");
    const o = {
      ex,
      info: forwardInfo(req, ex, hop),
      maxBodyBytes: config.maxBodyBytes,
      firstByteTimeoutMs: config.firstByteTimeoutMs,
      idle,
      fail: reject,
    };
    if (cluster && !hop && !registry.get(address)?.isOpen) {
      // The tunnel lives on another node (or nowhere): one hop to its owner, never a redirect.
      stamp();
      const client = { ip: ex.ip, proto: o.info.proto };
      if (websocket) {
        void cluster.openRaw(req, address, client).then((r) => {
          if (r.outcome !== "forwarded") return reject(...hopRefusal(r));
          if (gone) return void r.stream.destroy(); // the client left during the lookup
          proxyExtendedConnect(req as Http2ServerRequest, res as Http2ServerResponse, asStream(r.stream), o);
        });
        return;
      }
      void cluster
        .forward(
          req,
          res,
          address,
          client,
          (status) => {
            ex.status = status;
          },
          () => gone,
        )
        .then((outcome) => {
          if (outcome === "offline") reject("agent_offline");
          else if (outcome === "unavailable") reject("cluster_unavailable");
        });
      return;
    }
    const admitted = admit(req, ex, address);
    if ("code" in admitted) return reject(admitted.code, admitted.headers);
    if (websocket)
      proxyExtendedConnect(
        req as Http2ServerRequest,
        res as Http2ServerResponse,
        new StreamDuplex(openStream(admitted)),
        o,
      );
    else proxyRequest(req, res, openStream(admitted), o);
  };

  /**
   * A raw stream another node opened for an upgrade: after our 200, its request body goes into a
   * yamux stream to the agent and the stream's bytes come back as the response body. The other node
   * writes the upgrade head itself, exactly as it would into a local stream.
   */
  const serveRaw = (req: Http2ServerRequest, res: Http2ServerResponse, ex: Exchange, hop: Hop) => {
    const admitted = admit(req, ex, hop.address);
    if ("code" in admitted) {
      ex.error = admitted.code;
      metrics.error(admitted.code);
      return void sendError(res, admitted.code, admitted.headers ?? {});
    }
    const stream = new StreamDuplex(openStream(admitted));
    res.writeHead(200);
    ex.status = 200;
    req.on("data", (c: Buffer) => {
      ex.bytesIn += c.length;
    });
    stream.on("data", (c: Buffer) => {
      ex.bytesOut += c.length;
    });
    req.pipe(stream);
    stream.pipe(res as unknown as NodeJS.WritableStream);
    const teardown = () => {
      stream.destroy();
      if (!res.writableEnded) res.destroy();
    };
    stream.on("error", teardown);
    stream.on("close", teardown);
    res.on("close", teardown);
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const host = hostOf(req);
    if (host === null) {
      metrics.error("bad_request");
      return void socket.end(rawError("bad_request"));
    }
    const route = routeHost(host, config.domain);
    if (route.kind === "relay" && pathOf(req.url) === TUNNEL_PATH) {
      if (draining) return void socket.end(rawError("draining", { "Retry-After": "1" }));
      return endpoint.handleUpgrade(req, socket, head, clientOf(req, trusted));
    }
    const ex = begin(req);
    socket.once("close", () => {
      if (ex.status === 0) ex.status = 499;
      finish(ex);
    });
    const reject = (code: HttpErrorCode, headers: Record<string, string> = {}): void => {
      socket.end(refusal(ex, code, headers));
    };
    if (route.kind === "relay") return reject("not_found");
    if (route.kind === "invalid") return reject("invalid_subdomain");
    ex.agent = route.address;
    const pipe = (stream: Duplex) =>
      proxyUpgrade(req, socket, head, stream, {
        ex,
        info: forwardInfo(req, ex),
        firstByteTimeoutMs: config.firstByteTimeoutMs,
        idle,
        fail: (code) => {
          ex.error = code;
          metrics.error(code);
        },
      });
    if (cluster && !registry.get(route.address)?.isOpen) {
      // The tunnel lives on another node: the same pipe, over a raw hop stream to it.
      const client = { ip: ex.ip, proto: forwardInfo(req, ex).proto };
      void cluster.openRaw(req, route.address, client).then((r) => {
        if (r.outcome !== "forwarded") return reject(...hopRefusal(r));
        if (socket.destroyed) return void r.stream.destroy(); // the client left during the lookup
        pipe(asStream(r.stream));
      });
      return;
    }
    const admitted = admit(req, ex, route.address);
    if ("code" in admitted) return reject(admitted.code, admitted.headers);
    pipe(new StreamDuplex(openStream(admitted)));
  };

  const { h1, h2 } = listener;
  h1.on("request", onRequest);
  h1.on("checkContinue", onRequest); // the local server decides on 100 Continue, not the relay
  h1.on("upgrade", onUpgrade);
  h1.on("connect", (_req: IncomingMessage, socket: Duplex) => socket.end(rawError("bad_request")));
  h1.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    const code: HttpErrorCode =
      err.code === "HPE_HEADER_OVERFLOW"
        ? "request_header_too_large"
        : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "request_timeout"
          : "bad_request";
    const sent = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage?.headersSent;
    if (!socket.writable || sent || err.code === "ECONNRESET") return void socket.destroy();
    metrics.error(code);
    socket.end(rawError(code));
  });
  h2.on("request", onRequest);
  h2.on("checkContinue", onRequest);
  h2.on("connect", onRequest);

  // --- shutdown ---

  let drained: (() => void) | undefined;
  let shutdown: Promise<void> | undefined;
  const stop = async (graceMs: number) => {
    draining = true;
    listener.stopAccepting();
    endpoint.closePending();
    if (graceMs > 0 && inflight.size > 0) {
      log.info({ inflight: inflight.size, graceMs }, "draining: waiting for in-flight requests");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    // Peers reconnect at once on "restarting" (GoAway 3, close 1012): give each closing handshake a
    // moment before every socket goes.
    const tunnels = [...registry.all()];
    for (const t of tunnels) {
      registry.remove(t);
      t.drain(GoAwayCode.Restarting, "restarting", 0);
    }
    await Promise.all(tunnels.map((t) => t.closed(1000)));
    listener.closeAll();
    await new Promise<void>((resolve) => setImmediate(resolve));
    metricsServer?.close();
    await cluster?.stop();
    limits.close();
    idle.close();
    log.info({ cut: inflight.size }, "relay stopped");
  };

  return {
    config,
    registry,
    metrics,
    get draining() {
      return draining;
    },
    urlFor,
    port: () => boundPort,
    metricsPort: () => metricsPort,
    internalPort: () => cluster?.internalPort,
    listen: async () => {
      boundPort = await listener.listen(config.host, config.port);
      if (clusterConfig) {
        try {
          const { Cluster } = await import("./cluster/cluster.ts");
          cluster = new Cluster(clusterConfig, log);
          await cluster.start(
            (req, res, address, client) => onRequest(req, res, { address, ...client }),
            (res, status, code) => {
              res.writeHead(status, { "content-type": "application/json" });
              res.end(`{"error":"${code}"}`);
            },
            (address) => {
              // A newer tunnel for this address authenticated on another node.
              const t = registry.get(address);
              if (!t) return;
              registry.remove(t);
              metrics.takeover();
              t.drain(GoAwayCode.Superseded, "superseded", config.drainTimeoutMs);
            },
          );
        } catch (err) {
          listener.closeAll();
          throw new ConfigError("internal-listen", `cannot start the cluster: ${(err as Error).message}`);
        }
      }
      origins = allowedOrigins(config, boundPort);
      base = publicBase(config, boundPort);
      if (metricsServer && config.metricsListen) {
        const { host, port } = config.metricsListen;
        try {
          metricsPort = await metricsServer.listen(host, port);
        } catch (err) {
          const why = `cannot listen on ${host}:${port}: ${(err as Error).message}`;
          if (config.metricsListen.optional)
            log.warn({ err: why }, "no /metrics: its default address is taken");
          else {
            listener.closeAll();
            throw new ConfigError("metrics-listen", why);
          }
        }
      }
      log.info(
        {
          listen: `${config.host}:${boundPort}`,
          tls: listener.tls,
          metrics: metricsPort,
          domain: config.domain,
          base: base.href,
        },
        "relay listening",
      );
      return boundPort;
    },
    drain: () => (shutdown ??= stop(config.drainTimeoutMs)),
    close: () => {
      if (shutdown) {
        drained?.(); // stop waiting for a drain in progress
        return shutdown;
      }
      return (shutdown = stop(0));
    },
    reloadTls: () => {
      if (!config.tlsCert) return false;
      try {
        listener.setSecureContext(readTlsPair(config.tlsCert, config.tlsKey!));
        log.info({ cert: config.tlsCert }, "tls certificate reloaded");
        return true;
      } catch (err) {
        log.error({ err: (err as Error).message }, "tls reload failed; keeping the current certificate");
        return false;
      }
    },
  };
}
