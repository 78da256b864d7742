/**
 * The relay node: one HTTP server for public requests, the health endpoint and the tunnel
 * endpoint. Request path: public socket → router (here) → registry → stream (proxy.ts).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import pino, { type Logger } from "pino";
import { TUNNEL_PATH } from "../protocol/constants.ts";
import { VERSION } from "../version.ts";
import { GoAwayCode } from "../yamux/frame.ts";
import { agentUrl, allowedOrigins, publicBase, type RelayConfig, verifyRelayConfig } from "./config.ts";
import type { ForwardInfo } from "./forward-headers.ts";
import { routeHost } from "./host.ts";
import { rawError, sendError } from "./http-errors.ts";
import { proxyRequest, proxyUpgrade } from "./proxy.ts";
import { TunnelRegistry } from "./registry.ts";
import { TunnelEndpoint } from "./tunnel-endpoint.ts";

export interface Relay {
  readonly config: RelayConfig;
  readonly registry: TunnelRegistry;
  readonly server: Server;
  /** Resolves once listening; returns the bound port. */
  listen(): Promise<number>;
  /** The bound port (after listen). */
  port(): number;
  /** Public URL of an agent by 40-hex address. */
  urlFor(address: string): string;
  /** Stops accepting, tells every peer to reconnect elsewhere, and closes. */
  close(): Promise<void>;
}

export function createRelay(input: Partial<RelayConfig>, logger?: Logger): Relay {
  const config = verifyRelayConfig(input);
  const log = logger ?? pino({ level: config.logLevel, base: { role: "relay" } });
  const registry = new TunnelRegistry();
  const startedAt = Date.now();
  let boundPort = config.port;
  let origins: ReadonlySet<string> = allowedOrigins(config, boundPort);
  let base = publicBase(config, boundPort);
  const urlFor = (address: string) => agentUrl(base, address);

  const endpoint = new TunnelEndpoint({ config, registry, log, origins: () => origins, urlFor });

  const forwardInfo = (req: IncomingMessage): ForwardInfo => ({
    clientIp: req.socket.remoteAddress ?? "",
    proto: "http",
    host: req.headers.host ?? "",
    requestId: randomUUID(),
  });

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const route = routeHost(req.headers.host, config.domain);
    if (route.kind === "invalid") return sendError(res, "invalid_subdomain");
    if (route.kind === "relay") return relayEndpoint(req, res);
    const tunnel = registry.get(route.address);
    if (!tunnel?.isOpen) return sendError(res, "agent_offline");
    if (tunnel.isBusy) return sendError(res, "tunnel_busy");
    const info = forwardInfo(req);
    const started = performance.now();
    proxyRequest(req, res, tunnel.openStream(), info, (r) => {
      log.info(
        {
          rid: info.requestId,
          agent: route.address,
          method: req.method,
          path: (req.url ?? "").split("?")[0],
          status: r.status,
          in: r.bytesIn,
          out: r.bytesOut,
          ms: Math.round(performance.now() - started),
          ip: info.clientIp,
        },
        "request",
      );
    });
  };

  const relayEndpoint = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health" && (req.method === "GET" || req.method === "HEAD")) {
      const body = JSON.stringify({
        status: "ok",
        tunnels: registry.size,
        streams: registry.streamCount(),
        uptime_s: Math.floor((Date.now() - startedAt) / 1000),
        version: VERSION,
      });
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      return res.end(body);
    }
    sendError(res, "not_found");
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    const route = routeHost(req.headers.host, config.domain);
    if (route.kind === "relay") {
      if ((req.url ?? "").split("?")[0] === TUNNEL_PATH) return endpoint.handleUpgrade(req, socket, head);
      return void socket.end(rawError("not_found"));
    }
    if (route.kind === "invalid") return void socket.end(rawError("invalid_subdomain"));
    const tunnel = registry.get(route.address);
    if (!tunnel?.isOpen) return void socket.end(rawError("agent_offline"));
    if (tunnel.isBusy) return void socket.end(rawError("tunnel_busy"));
    proxyUpgrade(req, socket, head, tunnel.openStream(), forwardInfo(req));
  };

  const server = createServer({ noDelay: true, keepAlive: true }, onRequest);
  server.on("upgrade", onUpgrade);
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end(rawError("bad_request"));
    else socket.destroy();
  });

  return {
    config,
    registry,
    server,
    urlFor,
    port: () => boundPort,
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          server.off("error", reject);
          boundPort = (server.address() as AddressInfo).port;
          origins = allowedOrigins(config, boundPort);
          base = publicBase(config, boundPort);
          log.info(
            { listen: `${config.host}:${boundPort}`, domain: config.domain, base: base.href },
            "relay listening",
          );
          resolve(boundPort);
        });
      }),
    close: async () => {
      server.close();
      endpoint.closePending();
      for (const t of [...registry.all()]) {
        registry.remove(t);
        t.drain(GoAwayCode.Restarting, "restarting", 0);
      }
      server.closeAllConnections();
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
  };
}
