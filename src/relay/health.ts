/** `GET /health`: 200 with the relay's vital signs, 503 while it drains for a shutdown. */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { VERSION } from "../version.ts";
import type { PublicResponse } from "./http-errors.ts";

export interface HealthSources {
  draining: () => boolean;
  tunnels: () => number;
  streams: () => number;
  startedAt: number;
  /** On a cluster node: "ok", or "degraded" while Redis is unreachable. */
  cluster?: () => "ok" | "degraded";
}

export function isHealthRequest(req: IncomingMessage | Http2ServerRequest, path: string): boolean {
  return path === "/health" && (req.method === "GET" || req.method === "HEAD");
}

export function sendHealth(res: PublicResponse, h: HealthSources): void {
  const draining = h.draining();
  const cluster = h.cluster?.();
  const body = JSON.stringify({
    status: draining ? "draining" : cluster === "degraded" ? "degraded" : "ok",
    ...(cluster ? { cluster } : {}),
    tunnels: h.tunnels(),
    streams: h.streams(),
    uptime_s: Math.floor((Date.now() - h.startedAt) / 1000),
    version: VERSION,
  });
  res.writeHead(draining ? 503 : 200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
  });
  res.end(body);
}
