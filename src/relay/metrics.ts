/**
 * The relay's Prometheus metrics (prom-client). One registry per relay; process metrics live in one
 * registry per process and are merged in at scrape time.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface MetricSources {
  tunnels: () => number;
  streams: () => number;
  pendingTunnels: () => number;
  draining: () => boolean;
  /** HTTP/1.1 requests the fast lane served (h1-lane.ts), since start. */
  laneRequests: () => number;
  /** Present on a cluster node. */
  cluster?: {
    up: () => boolean;
    owned: () => number;
    forwardsMade: () => number;
    forwardsReceived: () => number;
    forwardErrors: () => number;
    redisErrors: () => number;
  };
}

let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];
/** Index of a status's class in CLASSES. */
const classOf = (status: number) => (status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5);

export class RelayMetrics {
  readonly registry = new Registry();
  private readonly authTotal: Counter<"result">;
  private readonly takeovers: Counter;
  private readonly streamsOpened: Counter;
  private readonly duration: Histogram;
  private readonly errors: Counter<"code">;
  /**
   * Per-request tallies, handed to prom-client when it collects: its `inc()` hashes the labels on
   * every call, about a microsecond per request for the counters below.
   */
  private readonly tally = { classes: new Float64Array(CLASSES.length), in: 0, out: 0 };

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    const tally = this.tally;
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge("agent_relay_tunnels", "Tunnels connected and authenticated", sources.tunnels);
    gauge(
      "agent_relay_tunnels_pending",
      "Tunnel connections waiting to authenticate",
      sources.pendingTunnels,
    );
    gauge("agent_relay_streams_active", "Streams open across all tunnels", sources.streams);
    gauge("agent_relay_draining", "1 while the relay is shutting down", () => (sources.draining() ? 1 : 0));
    gauge(
      "agent_relay_fast_lane_requests",
      "HTTP/1.1 requests served without Node's HTTP server, since start",
      sources.laneRequests,
    );
    const cl = sources.cluster;
    if (cl) {
      gauge("agent_relay_cluster_up", "1 while this node reaches Redis", () => (cl.up() ? 1 : 0));
      gauge("agent_relay_cluster_owned_tunnels", "Tunnels this node owns in Redis", cl.owned);
      gauge("agent_relay_cluster_forwards_made", "Requests forwarded to the owning node", cl.forwardsMade);
      gauge(
        "agent_relay_cluster_forwards_received",
        "Requests other nodes forwarded here",
        cl.forwardsReceived,
      );
      gauge("agent_relay_cluster_forward_errors", "Forwards that failed before an answer", cl.forwardErrors);
      gauge("agent_relay_cluster_redis_errors", "Errors talking to Redis", cl.redisErrors);
    }
    this.authTotal = new Counter({
      name: "agent_relay_tunnel_auth_total",
      help: "Tunnel authentications by result: ok, or the close reason of the failure",
      labelNames: ["result"],
      registers,
    });
    this.takeovers = new Counter({
      name: "agent_relay_tunnel_takeovers_total",
      help: "Tunnels superseded by a newer tunnel for the same address",
      registers,
    });
    this.streamsOpened = new Counter({
      name: "agent_relay_streams_opened_total",
      help: "Streams opened towards peers (one per public request or upgrade)",
      registers,
    });
    // Registered here; read from the tally when collected.
    new Counter({
      name: "agent_relay_requests_total",
      help: "Public requests by status class (499: the client left before the answer ended)",
      labelNames: ["class"],
      registers,
      collect() {
        this.reset();
        CLASSES.forEach((c, i) => {
          if (tally.classes[i]! > 0) this.inc({ class: c }, tally.classes[i]!);
        });
      },
    });
    new Counter({
      name: "agent_relay_bytes_total",
      help: "Public body bytes: in from clients, out to clients",
      labelNames: ["direction"],
      registers,
      collect() {
        this.reset();
        if (tally.in > 0) this.inc({ direction: "in" }, tally.in);
        if (tally.out > 0) this.inc({ direction: "out" }, tally.out);
      },
    });
    this.duration = new Histogram({
      name: "agent_relay_request_duration_seconds",
      help: "Public request duration, from the request head to the end of the answer",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.errors = new Counter({
      name: "agent_relay_errors_total",
      help: "Errors the relay itself answered, by code; every limit hit is counted here",
      labelNames: ["code"],
      registers,
    });
  }

  auth(result: string): void {
    this.authTotal.inc({ result });
  }

  takeover(): void {
    this.takeovers.inc();
  }

  streamOpened(): void {
    this.streamsOpened.inc();
  }

  request(status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    const t = this.tally;
    t.classes[classOf(status)]!++;
    t.in += bytesIn;
    t.out += bytesOut;
    this.duration.observe(seconds);
  }

  error(code: string): void {
    this.errors.inc({ code });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition: this relay's metrics and the process's. */
  text(): Promise<string> {
    return Registry.merge([this.registry, processMetrics()]).metrics();
  }
}
