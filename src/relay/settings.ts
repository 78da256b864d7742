/**
 * Every relay setting as the operator sees it: a flag, an `AGENT_RELAY_*` environment variable and a
 * config-file key, with the default `relay --help` shows. Each one parses its text into RelayConfig;
 * ranges are checked once, by verifyRelayConfig.
 */
import { LOOPBACK, type RelayConfig, relayDefaults } from "./config.ts";

export type RawValue = string | number | boolean | string[];

export interface Setting {
  /** Flag name without dashes; also the config-file key. */
  name: string;
  /** Placeholder shown in --help. */
  arg: string;
  help: string;
  /** The default, as --help shows it. */
  shown: string;
  /** Takes several values: repeated or comma-separated. */
  list?: boolean;
  /** Parses `raw` into `into`; throws an Error with a short reason on a malformed value. */
  apply(into: Partial<RelayConfig>, raw: RawValue): void;
}

export function envName(setting: string): string {
  return `AGENT_RELAY_${setting.toUpperCase().replace(/-/g, "_")}`;
}

/** The CLI serves metrics here unless told otherwise; createRelay() alone serves none. */
export const DEFAULT_METRICS_LISTEN = { host: "127.0.0.1", port: 9464 };

const text = (raw: RawValue): string => (Array.isArray(raw) ? raw.join(",") : String(raw)).trim();

/** `30s`, `500ms`, `5m`, `1h`; a bare number is milliseconds. */
export function parseDuration(raw: RawValue): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text(raw));
  if (!m) throw new Error(`expected a duration such as 500ms, 10s or 5m, got "${text(raw)}"`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "ms").toLowerCase() as "ms"];
  return Math.round(Number(m[1]) * unit);
}

/** `64KiB`, `10MiB`, `1GiB` (K, KB and KiB all mean 1024); a bare number is bytes; `off` is 0. */
export function parseSize(raw: RawValue): number {
  const t = text(raw);
  if (t.toLowerCase() === "off") return 0;
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(t);
  if (!m) throw new Error(`expected a size such as 64KiB or 10MiB, got "${t}"`);
  const exp = { b: 0, k: 1, m: 2, g: 3 }[(m[2] ?? "b")[0]!.toLowerCase() as "b"];
  return Number(m[1]) * 1024 ** exp;
}

/** A whole number; `off` is 0. */
export function parseCount(raw: RawValue): number {
  const t = text(raw);
  if (t.toLowerCase() === "off") return 0;
  if (!/^\d+$/.test(t)) throw new Error(`expected a whole number, got "${t}"`);
  return Number(t);
}

/** `host:port`, `[v6]:port` or a bare port (on 127.0.0.1). */
export function parseListen(raw: RawValue): { host: string; port: number } {
  const t = text(raw);
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(t) ?? /^(\d{1,5})$/.exec(t);
  if (!m) throw new Error(`expected host:port, got "${t}"`);
  const bare = m.length === 2;
  const port = Number(bare ? m[1] : m[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range`);
  return { host: bare ? "127.0.0.1" : (m[1] ?? m[2])!, port };
}

export function parseList(raw: RawValue): string[] {
  const parts = Array.isArray(raw) ? raw.flatMap((r) => r.split(",")) : String(raw).split(",");
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

const ms = (v: number) => (v % 60_000 === 0 ? `${v / 60_000}m` : v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`);
const kib = (v: number) => (v % 1024 === 0 ? `${v / 1024}KiB` : `${v}`);
const d = relayDefaults;

function duration(name: string, key: keyof RelayConfig, help: string): Setting {
  return {
    name,
    arg: "<duration>",
    help,
    shown: ms(d[key] as number),
    apply: (c, raw) => Object.assign(c, { [key]: parseDuration(raw) }),
  };
}

function count(name: string, key: keyof RelayConfig, help: string): Setting {
  return {
    name,
    arg: "<n>",
    help,
    shown: String(d[key]),
    apply: (c, raw) => Object.assign(c, { [key]: parseCount(raw) }),
  };
}

export const SETTINGS: readonly Setting[] = [
  {
    name: "listen",
    arg: "<host:port>",
    help: "address for public requests and tunnels",
    shown: `${d.host}:${d.port}`,
    apply: (c, raw) => Object.assign(c, parseListen(raw)),
  },
  {
    name: "domain",
    arg: "<domain>",
    help: "base domain; agents are served at <address>.<domain>",
    shown: d.domain,
    apply: (c, raw) => void (c.domain = text(raw)),
  },
  {
    name: "public-url",
    arg: "<url>",
    help: "public base URL when behind a proxy",
    shown: "http(s)://<domain>:<port>",
    apply: (c, raw) => void (c.publicBaseUrl = text(raw)),
  },
  {
    name: "origin",
    arg: "<url...>",
    help: "extra relay origins peers may sign for, such as wss://relay.example.com",
    shown: "none",
    list: true,
    apply: (c, raw) => void (c.extraOrigins = parseList(raw)),
  },
  {
    name: "tls-cert",
    arg: "<file>",
    help: "PEM certificate chain; with --tls-key the port serves HTTPS (h2 and http/1.1); reloaded on SIGHUP",
    shown: "none",
    apply: (c, raw) => void (c.tlsCert = text(raw)),
  },
  {
    name: "tls-key",
    arg: "<file>",
    help: "PEM private key for --tls-cert",
    shown: "none",
    apply: (c, raw) => void (c.tlsKey = text(raw)),
  },
  {
    name: "metrics-listen",
    arg: "<host:port|off>",
    help: "address for GET /metrics (Prometheus) and /health",
    shown: `${DEFAULT_METRICS_LISTEN.host}:${DEFAULT_METRICS_LISTEN.port}`,
    apply: (c, raw) =>
      void (c.metricsListen = text(raw).toLowerCase() === "off" ? undefined : parseListen(raw)),
  },
  {
    name: "trust-proxy",
    arg: "<ip|cidr...>",
    help: "proxies whose X-Forwarded-For names the client",
    shown: "none",
    list: true,
    apply: (c, raw) => void (c.trustProxy = parseList(raw)),
  },
  {
    name: "rate-limit-exempt",
    arg: "<ip|cidr...>",
    help: "client addresses no rate or per-IP limit applies to ('none' for none)",
    shown: LOOPBACK.join(","),
    list: true,
    apply: (c, raw) => void (c.rateLimitExempt = parseList(raw).filter((v) => v.toLowerCase() !== "none")),
  },
  duration("auth-timeout", "authTimeoutMs", "time a tunnel has to authenticate"),
  {
    name: "max-clock-skew",
    arg: "<duration>",
    help: "largest clock difference allowed in AUTH (whole seconds)",
    shown: `${d.maxClockSkewS}s`,
    apply: (c, raw) => void (c.maxClockSkewS = parseDuration(raw) / 1000),
  },
  count("max-pending-per-ip", "maxPendingPerIp", "tunnel connections per IP waiting to authenticate"),
  count("connect-rate", "connectRatePerMin", "tunnel connects per IP per minute (token bucket; 0 = off)"),
  count("request-rate", "requestRatePerMin", "public requests per agent per minute (token bucket; 0 = off)"),
  count("max-streams", "maxStreamsPerTunnel", "concurrent requests per tunnel"),
  {
    name: "max-header-size",
    arg: "<size>",
    help: "largest request head",
    shown: kib(d.maxHeaderBytes),
    apply: (c, raw) => void (c.maxHeaderBytes = parseSize(raw)),
  },
  {
    name: "max-body-size",
    arg: "<size|off>",
    help: "largest request body",
    shown: "off",
    apply: (c, raw) => void (c.maxBodyBytes = parseSize(raw)),
  },
  duration(
    "first-byte-timeout",
    "firstByteTimeoutMs",
    "time from the end of a request to the first byte of its answer",
  ),
  duration(
    "idle-timeout",
    "idleTimeoutMs",
    "a request or WebSocket with no bytes either way for this long is cut",
  ),
  duration("header-timeout", "headerTimeoutMs", "time a client has to send a whole request head"),
  duration("drain-timeout", "drainTimeoutMs", "time in-flight requests get to finish on SIGTERM"),
  duration("keepalive-interval", "keepAliveIntervalMs", "yamux ping interval on tunnels"),
  duration(
    "keepalive-timeout",
    "keepAliveTimeoutMs",
    "a tunnel whose ping is unanswered this long is dropped",
  ),
  {
    name: "cluster",
    arg: "<redis-url>",
    help: "join a cluster of relay nodes coordinated through Redis, such as redis://127.0.0.1:6379",
    shown: "none (this node runs alone)",
    apply: (c, raw) => void (c.cluster = text(raw)),
  },
  {
    name: "node-id",
    arg: "<id>",
    help: "this node's id in the cluster",
    shown: "<hostname>-<pid>",
    apply: (c, raw) => void (c.nodeId = text(raw)),
  },
  {
    name: "internal-listen",
    arg: "<host:port>",
    help: "address other nodes forward requests to (cluster only)",
    shown: "127.0.0.1:9101",
    apply: (c, raw) => void (c.internalListen = parseListen(raw)),
  },
  {
    name: "internal-url",
    arg: "<url>",
    help: "URL other nodes use for --internal-listen, when it differs",
    shown: "http://<internal-listen>",
    apply: (c, raw) => void (c.internalUrl = text(raw)),
  },
  {
    name: "cluster-secret-file",
    arg: "<file>",
    help: "file holding the secret every node of the cluster shares (required with --cluster)",
    shown: "none",
    apply: (c, raw) => void (c.clusterSecretFile = text(raw)),
  },
  duration("cluster-lease", "clusterLeaseMs", "how long a node's claim on a tunnel outlives the node"),
  {
    name: "log-level",
    arg: "<level>",
    help: "trace, debug, info, warn, error or silent",
    shown: d.logLevel,
    apply: (c, raw) => void (c.logLevel = text(raw)),
  },
];
