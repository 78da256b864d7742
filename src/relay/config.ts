/**
 * The relay's one typed configuration: defaults, then validation, then use. Where each value comes
 * from (flag, environment, file) is settings.ts's business; this file only knows the typed object.
 */
import { readFileSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { normalizeOrigin } from "../protocol/auth-message.ts";
import {
  AUTH_TIMEOUT_MS,
  MAX_CLOCK_SKEW_S,
  MAX_REQUEST_HEAD,
  MAX_WS_MESSAGE,
} from "../protocol/constants.ts";

export interface ListenAddress {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** A default rather than a choice: if the address is taken, warn and go on without it. */
  optional?: boolean;
}

export interface RelayConfig {
  /** Address to listen on for public requests and tunnels. */
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Base domain: agents are served at `<address>.<domain>`. */
  domain: string;
  /**
   * Public base URL, such as `https://relay.example.com`; agent URLs are `<scheme>://<address>.<host>`.
   * Default: `http(s)://<domain>:<port>`.
   */
  publicBaseUrl?: string;
  /** Extra origins (as peers dial them) that AUTH may be signed for. */
  extraOrigins: string[];
  /** PEM certificate chain and key files: with both, the public port speaks TLS (h2 and http/1.1). */
  tlsCert?: string;
  tlsKey?: string;
  /** Where `/metrics` is served; undefined serves no metrics. */
  metricsListen?: ListenAddress;
  /** Proxies (IPs or CIDRs) whose X-Forwarded-For names the real client. */
  trustProxy: string[];
  /** Client IPs or CIDRs that no per-IP or rate limit applies to. */
  rateLimitExempt: string[];
  authTimeoutMs: number;
  maxClockSkewS: number;
  /** Tunnel connections per client IP still waiting to authenticate. */
  maxPendingPerIp: number;
  /** Tunnel connects per client IP per minute (token bucket); 0 turns the limit off. */
  connectRatePerMin: number;
  /** Public requests per agent per minute (token bucket); 0 turns the limit off. */
  requestRatePerMin: number;
  /** Streams in flight per tunnel before `503 tunnel_busy`. */
  maxStreamsPerTunnel: number;
  /** Largest request head (request line and headers) before `431`. */
  maxHeaderBytes: number;
  /** Largest request body before `413 body_too_large`; 0 means no limit. */
  maxBodyBytes: number;
  /** Time from the end of the request to the first byte of the answer before `504 gateway_timeout`. */
  firstByteTimeoutMs: number;
  /** A stream with no bytes either way for this long is reset (`idle_timeout`). */
  idleTimeoutMs: number;
  /** Time a client has to send a complete request head (slowloris defence). */
  headerTimeoutMs: number;
  keepAliveIntervalMs: number;
  keepAliveTimeoutMs: number;
  /** How long in-flight requests may take to finish on shutdown, or on a superseded tunnel. */
  drainTimeoutMs: number;
  maxMessageBytes: number;
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  logLevel: string;
  /** Redis URL; with it the node joins a cluster (spec/CLUSTER.md). */
  cluster?: string;
  /** This node's id in the cluster (default: hostname-pid). */
  nodeId?: string;
  /** The internal listener other nodes forward to. */
  internalListen?: ListenAddress;
  /** URL other nodes reach the internal listener at (default http://<internal-listen>). */
  internalUrl?: string;
  /** File holding the shared cluster secret. */
  clusterSecretFile?: string;
  /** Ownership lease in Redis. */
  clusterLeaseMs: number;
}

export const LOOPBACK = ["127.0.0.0/8", "::1"];

export const relayDefaults: RelayConfig = {
  host: "127.0.0.1",
  port: 8080,
  domain: "localhost",
  extraOrigins: [],
  trustProxy: [],
  rateLimitExempt: LOOPBACK,
  authTimeoutMs: AUTH_TIMEOUT_MS,
  maxClockSkewS: MAX_CLOCK_SKEW_S,
  maxPendingPerIp: 16,
  connectRatePerMin: 30,
  requestRatePerMin: 6000,
  maxStreamsPerTunnel: 4096,
  maxHeaderBytes: MAX_REQUEST_HEAD,
  maxBodyBytes: 0,
  firstByteTimeoutMs: 60_000,
  idleTimeoutMs: 300_000,
  headerTimeoutMs: 10_000,
  keepAliveIntervalMs: 15_000,
  keepAliveTimeoutMs: 10_000,
  drainTimeoutMs: 20_000,
  clusterLeaseMs: 15_000,
  maxMessageBytes: MAX_WS_MESSAGE,
  logLevel: "info",
};

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    /** The setting as the user knows it: its flag name without dashes, such as `max-streams`. */
    readonly setting: string,
    readonly detail: string,
  ) {
    super(`${setting}: ${detail}`);
  }
}

/** Numeric settings: the user-facing name and the smallest (and largest) allowed value. */
const BOUNDS: ReadonlyArray<readonly [keyof RelayConfig, string, number, number?]> = [
  ["port", "listen", 0, 65535],
  ["authTimeoutMs", "auth-timeout", 100],
  ["maxClockSkewS", "max-clock-skew", 0],
  ["maxPendingPerIp", "max-pending-per-ip", 1],
  ["connectRatePerMin", "connect-rate", 0],
  ["requestRatePerMin", "request-rate", 0],
  ["maxStreamsPerTunnel", "max-streams", 1],
  // The peer reads at most MAX_REQUEST_HEAD bytes of head, so a larger cap could never be honoured.
  ["maxHeaderBytes", "max-header-size", 1024, MAX_REQUEST_HEAD],
  ["maxBodyBytes", "max-body-size", 0],
  ["firstByteTimeoutMs", "first-byte-timeout", 10],
  ["idleTimeoutMs", "idle-timeout", 10],
  ["headerTimeoutMs", "header-timeout", 10],
  ["keepAliveIntervalMs", "keepalive-interval", 0],
  ["keepAliveTimeoutMs", "keepalive-timeout", 100],
  ["drainTimeoutMs", "drain-timeout", 0],
  ["maxMessageBytes", "max-message-bytes", 16 * 1024],
];

export function verifyRelayConfig(input: Partial<RelayConfig>): RelayConfig {
  const c: RelayConfig = { ...relayDefaults, ...input };
  for (const [key, setting, min, max] of BOUNDS) {
    const v = c[key] as number;
    if (!Number.isInteger(v) || v < min || (max !== undefined && v > max))
      throw new ConfigError(
        setting,
        `must be an integer ${max === undefined ? `>= ${min}` : `${min}-${max}`}`,
      );
  }
  if (!/^[a-z0-9.-]+$/i.test(c.domain) || c.domain.startsWith(".") || c.domain.endsWith("."))
    throw new ConfigError("domain", `"${c.domain}" is not a host name`);
  if (c.publicBaseUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(c.publicBaseUrl);
    } catch {
      throw new ConfigError("public-url", `"${c.publicBaseUrl}" is not a URL`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new ConfigError("public-url", "must be http(s)");
  }
  for (const o of c.extraOrigins) {
    try {
      normalizeOrigin(o);
    } catch (err) {
      throw new ConfigError("origin", (err as Error).message);
    }
  }
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
    const [missing, given] = c.tlsCert === undefined ? ["tls-cert", "tls-key"] : ["tls-key", "tls-cert"];
    throw new ConfigError(missing, `missing; --${given} needs it`);
  }
  if (c.metricsListen !== undefined) {
    const { port } = c.metricsListen;
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ConfigError("metrics-listen", "port must be 0-65535");
  }
  addressList(c.trustProxy, "trust-proxy");
  addressList(c.rateLimitExempt, "rate-limit-exempt");
  if (!LOG_LEVELS.includes(c.logLevel))
    throw new ConfigError("log-level", `must be one of ${LOG_LEVELS.join(", ")}`);
  if (c.cluster !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(c.cluster);
    } catch {}
    if (!u || (u.protocol !== "redis:" && u.protocol !== "rediss:"))
      throw new ConfigError("cluster", `"${c.cluster}" is not a redis:// URL`);
    if (!c.clusterSecretFile) throw new ConfigError("cluster-secret-file", "missing; --cluster needs it");
    if (!Number.isInteger(c.clusterLeaseMs) || c.clusterLeaseMs < 300)
      throw new ConfigError("cluster-lease", "must be at least 300ms");
  }
  return c;
}

/** The cluster secret from its file: at least 16 characters after trimming. */
export function readClusterSecret(file: string): string {
  let secret: string;
  try {
    secret = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new ConfigError(
      "cluster-secret-file",
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  if (secret.length < 16)
    throw new ConfigError("cluster-secret-file", `${file} must hold at least 16 characters`);
  return secret;
}

/** A BlockList of IPs and CIDRs (`10.0.0.0/8`, `::1`); throws ConfigError naming `setting`. */
export function addressList(entries: readonly string[], setting: string): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [ip = "", bits, extra] = entry.trim().split("/");
    const family = isIP(ip);
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : Number(bits);
    if (
      family === 0 ||
      extra !== undefined ||
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > (family === 6 ? 128 : 32)
    )
      throw new ConfigError(setting, `"${entry}" is not an IP address or CIDR`);
    list.addSubnet(ip, prefix, family === 6 ? "ipv6" : "ipv4");
  }
  return list;
}

/** The public base URL, once the real port is known. */
export function publicBase(c: RelayConfig, port: number): URL {
  return new URL(c.publicBaseUrl ?? `${c.tlsCert ? "https" : "http"}://${c.domain}:${port}`);
}

/** The public URL of an agent (lowercase hex address). */
export function agentUrl(base: URL, address: string): string {
  return `${base.protocol}//${address}.${base.host}`;
}

/** Origins a peer may have dialed to reach this relay: the listen address, the domain, localhost. */
export function allowedOrigins(c: RelayConfig, port: number): Set<string> {
  const out = new Set<string>();
  const ws = c.tlsCert ? "wss" : "ws";
  const hostForUrl = (h: string) => (isIP(h) === 6 ? `[${h}]` : h);
  out.add(normalizeOrigin(`${ws}://${hostForUrl(c.host)}:${port}`));
  out.add(normalizeOrigin(`${ws}://${c.domain}:${port}`));
  if (["127.0.0.1", "::1", "localhost", "0.0.0.0", "::"].includes(c.host)) {
    out.add(normalizeOrigin(`${ws}://localhost:${port}`));
    out.add(normalizeOrigin(`${ws}://127.0.0.1:${port}`));
    out.add(normalizeOrigin(`${ws}://[::1]:${port}`));
  }
  const base = publicBase(c, port);
  out.add(normalizeOrigin(`${base.protocol === "https:" ? "wss" : "ws"}://${base.host}`));
  for (const o of c.extraOrigins) out.add(normalizeOrigin(o));
  return out;
}
