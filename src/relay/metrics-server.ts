/**
 * The operator's listener, apart from the public port (loopback by default): `GET /metrics` in
 * Prometheus text format and `GET /health`. It stays up while the relay drains.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathOf } from "./exchange.ts";
import { type HealthSources, isHealthRequest, sendHealth } from "./health.ts";
import { sendError } from "./http-errors.ts";
import type { RelayMetrics } from "./metrics.ts";

export class MetricsServer {
  private readonly server: Server;

  constructor(metrics: RelayMetrics, health: HealthSources) {
    this.server = createServer((req, res) => {
      const path = pathOf(req.url);
      if (isHealthRequest(req, path)) return sendHealth(res, health);
      if (path !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD"))
        return sendError(res, "not_found");
      metrics.text().then(
        (text) => {
          res.writeHead(200, { "content-type": metrics.contentType, "cache-control": "no-store" });
          res.end(req.method === "HEAD" ? undefined : text);
        },
        () => res.destroy(),
      );
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }
}
