/**
 * Which request headers cross the tunnel (spec/PROTOCOL.md, "Stream contents"): hop-by-hop headers
 * and client copies of X-Forwarded-* are dropped, the relay's own X-Forwarded-* are appended.
 */

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);

const FORWARDED = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "forwarded",
]);

export interface ForwardInfo {
  clientIp: string;
  proto: "http" | "https";
  host: string;
  requestId: string;
}

/** Header names listed in Connection are hop-by-hop too (RFC 9110 7.6.1). */
function connectionTokens(raw: string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "connection") {
      for (const t of raw[i + 1]!.split(",")) out.add(t.trim().toLowerCase());
    }
  }
  return out;
}

/**
 * Builds the raw header list (name, value, name, value, ...) for the request on the stream.
 * `keepUpgrade` keeps Connection/Upgrade for a WebSocket handshake.
 */
export function forwardRequestHeaders(
  rawHeaders: string[],
  info: ForwardInfo,
  keepUpgrade = false,
): string[] {
  const listed = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (FORWARDED.has(lower)) continue;
    if (keepUpgrade && (lower === "connection" || lower === "upgrade")) {
      out.push(name, rawHeaders[i + 1]!);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  out.push(
    "X-Forwarded-For",
    info.clientIp,
    "X-Forwarded-Proto",
    info.proto,
    "X-Forwarded-Host",
    info.host,
    "X-Request-Id",
    info.requestId,
  );
  return out;
}

/** Response headers to pass back: everything but hop-by-hop framing, which Node redoes. */
export function forwardResponseHeaders(rawHeaders: string[]): string[] {
  const listed = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}
