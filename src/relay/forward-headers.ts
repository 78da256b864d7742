/**
 * Which request headers cross the tunnel (spec/PROTOCOL.md, "Stream contents"): hop-by-hop headers
 * and client copies of X-Forwarded-* and X-Request-Id are dropped, the relay's own are appended.
 * HTTP/2 requests become HTTP/1.1 heads: pseudo-headers go, `:authority` becomes Host, cookies join.
 */

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
  "http2-settings",
]);

const RELAY_SET = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "forwarded",
  "x-request-id",
]);

export interface ForwardInfo {
  clientIp: string;
  proto: "http" | "https";
  host: string;
  requestId: string;
}

/** Whether a (lowercase) field name is hop-by-hop: HTTP/2 refuses these outright. */
export function isHopByHop(lower: string): boolean {
  return HOP_BY_HOP.has(lower);
}

/** Header names listed in Connection are hop-by-hop too (RFC 9110 7.6.1). */
function connectionTokens(raw: readonly string[]): Set<string> {
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
  rawHeaders: readonly string[],
  info: ForwardInfo,
  keepUpgrade = false,
): string[] {
  const listed = connectionTokens(rawHeaders);
  const out: string[] = [];
  const cookies: string[] = [];
  let hasHost = false;
  let authority: string | undefined;
  let trailers = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (lower.startsWith(":")) {
      if (lower === ":authority") authority = value;
      continue;
    }
    if (RELAY_SET.has(lower)) continue;
    if (keepUpgrade && (lower === "connection" || lower === "upgrade")) {
      out.push(name, value);
      continue;
    }
    if (lower === "te") trailers ||= value.split(",").some((t) => t.trim().toLowerCase() === "trailers");
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    if (lower === "cookie") {
      cookies.push(value);
      continue;
    }
    if (lower === "host") hasHost = true;
    out.push(name, value);
  }
  if (!hasHost && authority !== undefined) out.unshift("Host", authority);
  // RFC 9113 8.2.3: HTTP/2 may split cookies; an HTTP/1.1 head carries one Cookie line.
  if (cookies.length > 0) out.push("Cookie", cookies.join("; "));
  // The relay passes trailers back, so it may say so on the next hop (RFC 9110 10.1.4).
  if (trailers) out.push("TE", "trailers");
  // One request per stream: the local server should close its connection after answering.
  if (!keepUpgrade) out.push("Connection", "close");
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

/**
 * Response headers to pass back: everything but hop-by-hop framing, which Node redoes, and the local
 * server's X-Request-Id (the relay's own is on every response: `requestId`, appended when given).
 */
export function forwardResponseHeaders(rawHeaders: readonly string[], requestId?: string): string[] {
  const listed = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower) || lower === "x-request-id") continue;
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  if (requestId !== undefined) out.push("X-Request-Id", requestId);
  return out;
}
