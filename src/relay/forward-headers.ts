/**
 * Which request headers cross the tunnel (spec/PROTOCOL.md, "Stream contents"): hop-by-hop headers
 * and client copies of X-Forwarded-* and X-Request-Id are dropped, the relay's own are appended.
 * HTTP/2 requests become HTTP/1.1 heads: pseudo-headers go, `:authority` becomes Host, cookies join.
 */
import { STATUS_CODES } from "node:http";
import { FramingError, isOws, nameIs, TCHAR } from "../protocol/http1-framing.ts";
import { HeadRewriter, type RequestHead } from "../protocol/request-head.ts";

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

/** Every field the relay drops from an HTTP/1.1 request that lists no other field in Connection. */
const plainRewriter = new HeadRewriter(new Set([...HOP_BY_HOP, ...RELAY_SET]), []);
const COOKIE = Buffer.from("cookie", "latin1");
const TE = Buffer.from("te", "latin1");
const CONNECTION_NAME = Buffer.from("connection", "latin1");

/**
 * `forwardRequestHeaders` on the bytes of an HTTP/1.1 head, for the fast lane: the request line and
 * every kept line copied as they came, then the relay's own lines. Null when the head needs the
 * string path: more than one Cookie line (joined there), or a Connection that names other fields.
 * The head's values must be free of control characters (the lane checks them).
 */
export function forwardPlainRequestHead(head: RequestHead, info: ForwardInfo): Buffer | null {
  let cookies = 0;
  let trailers = false;
  for (let i = 0; i < head.count; i++) {
    if (head.nameIs(i, COOKIE)) {
      if (++cookies > 1) return null;
    } else if (head.nameIs(i, TE)) {
      trailers ||= head
        .value(i)
        .split(",")
        .some((t) => t.trim().toLowerCase() === "trailers");
    } else if (head.nameIs(i, CONNECTION_NAME)) {
      for (const t of head.value(i).split(",")) {
        const token = t.trim().toLowerCase();
        if (token !== "" && token !== "close" && token !== "keep-alive") return null;
      }
    }
  }
  const tail =
    `${trailers ? "TE: trailers\r\n" : ""}Connection: close\r\nX-Forwarded-For: ${info.clientIp}\r\n` +
    `X-Forwarded-Proto: ${info.proto}\r\nX-Forwarded-Host: ${info.host}\r\nX-Request-Id: ${info.requestId}\r\n\r\n`;
  return plainRewriter.apply(head, tail);
}

/** What an answer's head says that the relay's own lines depend on. */
export interface AnswerHeadFacts {
  /** It has a Content-Length. */
  length: boolean;
  /** It has a Date. */
  date: boolean;
}

const latin1 = (name: string) => Buffer.from(name, "latin1");
/** Dropped from every answer: hop-by-hop fields and the local server's X-Request-Id. */
const ANSWER_DROP: Buffer[][] = [];
for (const name of [...HOP_BY_HOP, "x-request-id"]) (ANSWER_DROP[name.length] ??= []).push(latin1(name));
const CONNECTION = latin1("connection");
const CONTENT_LENGTH = latin1("content-length");
const DATE = latin1("date");
const CR = 0x0d;
const COLON = 0x3a;

/** A byte no header value may hold (Node's `checkInvalidHeaderChar`): controls but HTAB, and DEL. */
const badValueByte = (b: number) => (b < 0x20 && b !== 0x09) || b === 0x7f;

/**
 * `forwardResponseHeaders` on bytes, for an HTTP/1.1 client: the answer's head (status line to its
 * last header line, no final CRLF CRLF, as parseResponseHead accepted it) with `HTTP/1.1` as its
 * version, without the fields that must not pass, then `tail(facts)` (the relay's own lines, each
 * ending in CRLF) and the empty line. Kept lines are copied as they came, in runs. Throws
 * FramingError for a field name that is not a token or a control character in a value or the
 * reason: bytes Node's server would refuse to write.
 */
export function forwardAnswerHead(head: Buffer, tail: (facts: AnswerHeadFacts) => string): Buffer {
  let listed: Buffer[] | null = null;
  for (;;) {
    const scan = scanAnswerHead(head, listed);
    if (scan.listed === null || listed !== null) return joinAnswerHead(head, scan, tail(scan));
    listed = scan.listed;
  }
}

interface AnswerScan extends AnswerHeadFacts {
  lineEnd: number;
  /** Runs of kept header lines: [start, end) pairs, each end just past a line (before its CRLF). */
  runs: number[];
  kept: number;
  /** Names a Connection header listed (other than close and keep-alive), or null. */
  listed: Buffer[] | null;
}

function scanAnswerHead(head: Buffer, extraDrop: Buffer[] | null): AnswerScan {
  const n = head.length;
  let lineEnd = 12;
  while (lineEnd < n && head[lineEnd] !== CR) lineEnd++;
  for (let k = 13; k < lineEnd; k++)
    if (badValueByte(head[k]!)) throw new FramingError("control character in the reason phrase");
  const runs: number[] = [];
  let kept = 0;
  let runStart = -1;
  let runEnd = -1;
  let length = false;
  let date = false;
  let listed: Buffer[] | null = null;
  let pos = lineEnd + 2;
  while (pos < n) {
    const start = pos;
    while (head[pos] !== COLON) {
      if (TCHAR[head[pos]!] !== 1) throw new FramingError("a header name that is not a token");
      pos++;
    }
    if (pos === start) throw new FramingError("malformed header line");
    const colon = pos;
    pos++;
    while (pos < n && head[pos] !== CR) {
      if (badValueByte(head[pos]!)) throw new FramingError("control character in a header value");
      pos++;
    }
    // A CR must end the line: a bare one would end it for the client and not for the parser.
    if (pos < n && head[pos + 1] !== 0x0a) throw new FramingError("bare CR in a header line");
    const end = pos;
    pos += 2;
    const size = colon - start;
    if (size === 10 && nameIs(head, start, colon, CONNECTION) && !namesNoField(head, colon + 1, end)) {
      for (const t of head.toString("latin1", colon + 1, end).split(",")) {
        const token = t.trim().toLowerCase();
        if (token !== "" && token !== "close" && token !== "keep-alive") (listed ??= []).push(latin1(token));
      }
    }
    let drop = false;
    const same = ANSWER_DROP[size];
    if (same) for (const d of same) if (nameIs(head, start, colon, d)) drop = true;
    if (extraDrop) for (const d of extraDrop) if (nameIs(head, start, colon, d)) drop = true;
    if (drop) {
      if (runStart !== -1) runs.push(runStart, runEnd);
      runStart = -1;
      continue;
    }
    if (size === 14) length ||= nameIs(head, start, colon, CONTENT_LENGTH);
    else if (size === 4) date ||= nameIs(head, start, colon, DATE);
    if (runStart === -1) runStart = start;
    runEnd = end;
    kept += end - start + 2;
  }
  if (runStart !== -1) runs.push(runStart, runEnd);
  return { lineEnd, runs, kept, length, date, listed };
}

const KEEP_ALIVE = latin1("keep-alive");
const CLOSE = latin1("close");

/** Whether a Connection value `b[start, end)` names no other field: just `keep-alive` or `close`. */
function namesNoField(b: Buffer, start: number, end: number): boolean {
  while (start < end && isOws(b[start]!)) start++;
  while (end > start && isOws(b[end - 1]!)) end--;
  return nameIs(b, start, end, KEEP_ALIVE) || nameIs(b, start, end, CLOSE);
}

function joinAnswerHead(head: Buffer, scan: AnswerScan, tail: string): Buffer {
  const status = head.toString("latin1", 8, scan.lineEnd);
  const line = `HTTP/1.1${status.length === 4 ? `${status} ${STATUS_CODES[Number(status)] ?? "Unknown"}` : status}\r\n`;
  const out = Buffer.allocUnsafe(line.length + scan.kept + tail.length + 2);
  let w = out.write(line, 0, "latin1");
  const { runs } = scan;
  for (let r = 0; r < runs.length; r += 2) {
    // A run's lines keep the CRLFs between them; the one after its last line is written here.
    w += head.copy(out, w, runs[r]!, runs[r + 1]!);
    out[w++] = CR;
    out[w++] = 0x0a;
  }
  w += out.write(tail, w, "latin1");
  out[w++] = CR;
  out[w] = 0x0a;
  return out;
}
