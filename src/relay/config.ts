/** The relay's one typed configuration: defaults, then validation, then use. */
import { isIP } from "node:net";
import { normalizeOrigin } from "../protocol/auth-message.ts";
import { AUTH_TIMEOUT_MS, MAX_CLOCK_SKEW_S, MAX_WS_MESSAGE } from "../protocol/constants.ts";

export interface RelayConfig {
  /** Address to listen on. */
  host: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Base domain: agents are served at `<address>.<domain>`. */
  domain: string;
  /**
   * Public base URL, such as `https://relay.example.com`; agent URLs are `<scheme>://<address>.<host>`.
   * Default: `http://<domain>:<port>`.
   */
  publicBaseUrl?: string;
  /** Extra origins (as peers dial them) that AUTH may be signed for. */
  extraOrigins: string[];
  authTimeoutMs: number;
  maxClockSkewS: number;
  /** Streams in flight per tunnel before `503 tunnel_busy`. */
  maxStreamsPerTunnel: number;
  keepAliveIntervalMs: number;
  keepAliveTimeoutMs: number;
  /** How long a superseded or draining tunnel may take to finish its in-flight streams. */
  drainTimeoutMs: number;
  maxMessageBytes: number;
  /** pino level: trace, debug, info, warn, error, fatal, silent. */
  logLevel: string;
}

export const relayDefaults: RelayConfig = {
  host: "127.0.0.1",
  port: 8080,
  domain: "localhost",
  extraOrigins: [],
  authTimeoutMs: AUTH_TIMEOUT_MS,
  maxClockSkewS: MAX_CLOCK_SKEW_S,
  maxStreamsPerTunnel: 4096,
  keepAliveIntervalMs: 15_000,
  keepAliveTimeoutMs: 10_000,
  drainTimeoutMs: 20_000,
  maxMessageBytes: MAX_WS_MESSAGE,
  logLevel: "info",
};

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
  }
}

export function verifyRelayConfig(input: Partial<RelayConfig>): RelayConfig {
  const c: RelayConfig = { ...relayDefaults, ...input };
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535)
    throw new ConfigError("port", "must be 0-65535");
  if (!/^[a-z0-9.-]+$/i.test(c.domain) || c.domain.startsWith(".") || c.domain.endsWith("."))
    throw new ConfigError("domain", `"${c.domain}" is not a host name`);
  for (const [k, min] of [
    ["authTimeoutMs", 100],
    ["maxStreamsPerTunnel", 1],
    ["keepAliveIntervalMs", 0],
    ["keepAliveTimeoutMs", 100],
    ["drainTimeoutMs", 0],
    ["maxMessageBytes", 16 * 1024],
    ["maxClockSkewS", 0],
  ] as const) {
    if (!Number.isFinite(c[k]) || c[k] < min) throw new ConfigError(k, `must be a number >= ${min}`);
  }
  if (c.publicBaseUrl !== undefined) {
    let u: URL;
    try {
      u = new URL(c.publicBaseUrl);
    } catch {
      throw new ConfigError("publicBaseUrl", `"${c.publicBaseUrl}" is not a URL`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:")
      throw new ConfigError("publicBaseUrl", "must be http(s)");
  }
  for (const o of c.extraOrigins) {
    try {
      normalizeOrigin(o);
    } catch (err) {
      throw new ConfigError("origin", (err as Error).message);
    }
  }
  return c;
}

/** The public base URL, once the real port is known. */
export function publicBase(c: RelayConfig, port: number): URL {
  return new URL(c.publicBaseUrl ?? `http://${c.domain}:${port}`);
}

/** The public URL of an agent (lowercase hex address). */
export function agentUrl(base: URL, address: string): string {
  return `${base.protocol}//${address}.${base.host}`;
}

/** Origins a peer may have dialed to reach this relay: the listen address, the domain, localhost. */
export function allowedOrigins(c: RelayConfig, port: number): Set<string> {
  const out = new Set<string>();
  const hostForUrl = (h: string) => (isIP(h) === 6 ? `[${h}]` : h);
  out.add(normalizeOrigin(`ws://${hostForUrl(c.host)}:${port}`));
  out.add(normalizeOrigin(`ws://${c.domain}:${port}`));
  if (
    c.host === "127.0.0.1" ||
    c.host === "::1" ||
    c.host === "localhost" ||
    c.host === "0.0.0.0" ||
    c.host === "::"
  ) {
    out.add(normalizeOrigin(`ws://localhost:${port}`));
    out.add(normalizeOrigin(`ws://127.0.0.1:${port}`));
    out.add(normalizeOrigin(`ws://[::1]:${port}`));
  }
  const base = publicBase(c, port);
  out.add(normalizeOrigin(`${base.protocol === "https:" ? "wss" : "ws"}://${base.host}`));
  for (const o of c.extraOrigins) out.add(normalizeOrigin(o));
  return out;
}
