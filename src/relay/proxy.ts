/**
 * One public request onto one yamux stream. HTTP/1.1 and HTTP/2 requests alike go out as an
 * HTTP/1.1 head written straight into the stream, then the body (chunked when its length is not
 * known); the answer is read back (AnswerReader) and streamed to the public client with
 * backpressure both ways, trailers and `100 Continue` included. The HTTP/2 WebSocket handshake
 * (upgrade.ts) still goes through Node's client, which this file also offers.
 */
import { type ClientRequest, type IncomingMessage, request, type ServerResponse } from "node:http";
import { type Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { MAX_REQUEST_HEAD } from "../protocol/constants.ts";
import type { HttpErrorCode } from "../protocol/errors.ts";
import { TOKEN } from "../protocol/http1-framing.ts";
import type { StreamHandler, YamuxStream } from "../yamux/stream.ts";
import { AnswerReader } from "./answer-reader.ts";
import type { Exchange } from "./exchange.ts";
import {
  type ForwardInfo,
  forwardRequestHeaders,
  forwardResponseHeaders,
  isHopByHop,
} from "./forward-headers.ts";
import type { PublicResponse } from "./http-errors.ts";
import type { IdleSweeper } from "./idle-sweeper.ts";

export type PublicRequest = IncomingMessage | Http2ServerRequest;

export interface ProxyOptions {
  ex: Exchange;
  info: ForwardInfo;
  maxBodyBytes: number;
  firstByteTimeoutMs: number;
  idle: IdleSweeper;
  /** Answers with a relay error, or cuts the response if it has started; records the code. */
  fail: (code: HttpErrorCode) => void;
}

/** A request on the stream in HTTP/1.1, through Node's client. */
export function upstreamRequest(
  req: PublicRequest,
  stream: Duplex,
  method: string,
  headers: string[],
): ClientRequest {
  return request({
    method,
    path: req.url,
    headers,
    setHost: false,
    createConnection: () => stream as unknown as Socket,
  });
}

/**
 * Writes a status and raw header list to the public client. On HTTP/2 the HEADERS frame leaves at
 * once; on HTTP/1.1 the head leaves with the first body bytes, or on `flushHeaders()`.
 */
export function writeHead(
  res: PublicResponse,
  status: number,
  headers: string[],
  statusMessage?: string,
): void {
  if (res instanceof Http2ServerResponse) {
    // HTTP/2 sends the HEADERS frame on writeHead; repeated fields become arrays.
    res.writeHead(status, h2Fields(headers));
  } else {
    res.writeHead(status, statusMessage, headers);
  }
}

/** The answer's status and headers, passed on. */
export function writeAnswerHead(res: PublicResponse, answer: IncomingMessage): void {
  writeHead(res, answer.statusCode ?? 502, forwardResponseHeaders(answer.rawHeaders), answer.statusMessage);
}

/**
 * Streams the answer's body and trailers to the public client, counting bytes; `relayed` runs once
 * the whole answer is handed over, `cut` if the tunnel dies first.
 */
export function pipeAnswer(
  answer: IncomingMessage,
  res: PublicResponse,
  ex: Exchange,
  cut: () => void,
  relayed: () => void = () => {},
): void {
  answer.on("data", (c: Buffer) => {
    ex.bytesOut += c.length;
  });
  answer.pipe(res as NodeJS.WritableStream, { end: false });
  answer.on("end", () => {
    addTrailers(res, answer.rawTrailers);
    relayed();
    res.end();
  });
  answer.on("aborted", cut);
  answer.on("error", cut);
}

/**
 * How one exchange on a stream ends early: the first-byte clock, the idle watch, and an abort that
 * resets the stream and reports its code once.
 */
export class StreamGuard {
  over = false;
  private firstByte: NodeJS.Timeout | undefined;
  /** The answer's head came (it may come before the request's end): no first-byte clock. */
  private answered = false;
  private readonly unwatch: () => void;

  constructor(
    private readonly o: Omit<ProxyOptions, "maxBodyBytes">,
    private readonly stream: { destroy(): void },
    /** Node's client request on the stream, when one is used. */
    private readonly upstream?: ClientRequest,
  ) {
    this.unwatch = o.idle.watch(o.ex, () => this.abort("idle_timeout"));
  }

  /** The whole request is on the stream: the agent's clock starts. */
  startClock(): void {
    if (!this.over && !this.answered)
      this.firstByte = setTimeout(() => this.abort("gateway_timeout"), this.o.firstByteTimeoutMs);
  }

  stopClock(): void {
    this.answered = true;
    clearTimeout(this.firstByte);
  }

  end(): void {
    this.over = true;
    this.stopClock();
    this.unwatch();
  }

  abort(code: HttpErrorCode): void {
    if (this.over) return;
    this.end();
    this.reset();
    this.o.fail(code);
  }

  /** Resets the stream: the peer drops the request and the local server sees its socket close. */
  reset(): void {
    this.upstream?.destroy();
    this.stream.destroy();
  }
}

/** One public request on its stream: the request goes out, the answer comes back (the handler). */
class ProxiedRequest implements StreamHandler {
  private readonly guard: StreamGuard;
  private readonly reader: AnswerReader;
  private readonly chunked: boolean;
  /** The whole answer went to the client. */
  private relayed = false;
  /** The whole request went onto the stream. */
  private sent = false;
  /** Whether a body byte (or the end) went to the client; until then the head may wait for it. */
  private wrote = false;
  private waitingDrain = false;
  private streamFull = false;

  constructor(
    private readonly req: PublicRequest,
    private readonly res: PublicResponse,
    private readonly stream: YamuxStream,
    private readonly o: ProxyOptions,
    method: string,
    head: Buffer,
  ) {
    this.chunked = hasChunkedBody(req);
    this.guard = new StreamGuard(o, stream);
    this.reader = new AnswerReader(method, this, MAX_REQUEST_HEAD);
    stream.attach(this);
    // (An HTTP/2 response emits "finish" even when the client reset the stream: only "close" and
    // our own record of a relayed answer tell the two apart.)
    res.on("close", this.onResClose);
    stream.write(head);
    req.on("data", this.onReqData);
    req.on("end", this.onReqEnd);
  }

  // --- The request: public client → stream ---

  private readonly onReqData = (c: Buffer): void => {
    const { ex, maxBodyBytes } = this.o;
    ex.bytesIn += c.length;
    if (maxBodyBytes > 0 && ex.bytesIn > maxBodyBytes) return this.guard.abort("body_too_large");
    if (this.guard.over || c.length === 0) return;
    const stream = this.stream;
    if (this.chunked) stream.write(`${c.length.toString(16)}\r\n`);
    let more = stream.write(c);
    if (this.chunked) more = stream.write("\r\n") && more;
    if (!more) {
      this.streamFull = true;
      this.req.pause();
    }
  };

  private readonly onReqEnd = (): void => {
    if (this.guard.over) return;
    if (this.chunked) this.stream.write(`0\r\n${trailerLines(this.req.rawTrailers)}\r\n`);
    this.sent = true;
    this.guard.startClock();
  };

  drain(): void {
    if (this.streamFull) {
      this.streamFull = false;
      this.req.resume();
    }
  }

  // --- The answer: stream → public client ---

  data(c: Buffer): void {
    if (this.reader.done) return;
    try {
      this.reader.feed(c);
    } catch {
      // A head Node will not write (say, a header HTTP/2 cannot carry) or bytes that are not HTTP/1.1.
      this.guard.abort(this.res.headersSent ? "tunnel_error" : "bad_response");
    }
  }

  end(): void {
    if (!this.reader.done && !this.reader.fin()) this.guard.abort("tunnel_error");
  }

  close(): void {
    if (!this.reader.done) this.guard.abort("tunnel_error");
  }

  // AnswerEvents

  onContinue(): void {
    this.res.writeContinue();
  }

  onHead(status: number, reason: string, headers: string[]): void {
    this.guard.stopClock();
    const res = this.res;
    // With the relay's X-Request-Id: the router sets none on a proxied response (server.ts).
    writeHead(res, status, forwardResponseHeaders(headers, this.o.info.requestId), reason);
    // An ordinary answer's body is in the same read, and head and body leave in one write; a
    // streaming answer (SSE) must show its head now, before its first event.
    if (res instanceof Http2ServerResponse) return;
    setImmediate(() => {
      if (!this.wrote && !res.writableEnded && !res.destroyed) res.flushHeaders();
    });
  }

  onData(c: Buffer): void {
    this.wrote = true;
    this.o.ex.bytesOut += c.length;
    if (!(this.res as ServerResponse).write(c) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.stream.pause();
      this.res.once("drain", this.onResDrain);
    }
  }

  onEnd(trailers: string[]): void {
    this.wrote = true;
    this.relayed = true;
    this.guard.end();
    addTrailers(this.res, trailers);
    this.res.end();
    // FIN for the relay's side; what else the peer sends for this exchange is discarded.
    this.stream.endQuiet();
    this.stream.resume();
  }

  private readonly onResDrain = (): void => {
    this.waitingDrain = false;
    this.stream.resume();
  };

  private readonly onResClose = (): void => {
    // The client went away before the answer was complete, or the answer came before the whole
    // request went out: reset the stream so the local server sees its socket close.
    this.guard.end();
    if (!this.relayed || !this.sent) this.guard.reset();
  };
}

export function proxyRequest(
  req: PublicRequest,
  res: PublicResponse,
  stream: YamuxStream,
  o: ProxyOptions,
): void {
  const method = req.method ?? "GET";
  const headers = forwardRequestHeaders(req.rawHeaders, o.info);
  if (hasChunkedBody(req)) headers.push("Transfer-Encoding", "chunked");
  const head = requestHead(method, req.url ?? "/", headers);
  if (head === null) {
    stream.destroy();
    return o.fail("bad_request");
  }
  new ProxiedRequest(req, res, stream, o, method, head);
}

/**
 * The request line and header block for the stream, or null if the target or a value would break
 * the head (Node's parsers refuse such requests before they get here; this is the last check).
 */
export function requestHead(method: string, target: string, headers: string[]): Buffer | null {
  if (!TARGET.test(target)) return null;
  let text = `${method} ${target} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const value = headers[i + 1]!;
    if (BAD_VALUE.test(value)) return null;
    text += `${headers[i]}: ${value}\r\n`;
  }
  return Buffer.from(`${text}\r\n`, "latin1");
}

/** What Node's own client accepts as a request target, and as a header value. */
const TARGET = /^[\u0021-\u00ff]+$/;
const BAD_VALUE = /[^\t\u0020-\u007e\u0080-\u00ff]/;

/** Trailer lines for the last chunk; a field that would break the framing is left out. */
function trailerLines(raw: string[]): string {
  let out = "";
  for (let i = 0; i < raw.length; i += 2)
    if (TOKEN.test(raw[i]!) && !BAD_VALUE.test(raw[i + 1]!)) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return out;
}

/**
 * Passes the answer's trailers on, on both HTTP versions: never a connection-specific field, a
 * framing field, or one that would break the framing; on HTTP/2 one value of a field it allows
 * once. HTTP/2 checks trailers late, past any catch, so every field is vetted here first.
 */
function addTrailers(res: PublicResponse, raw: readonly string[]): void {
  const kept = trailerFields(raw);
  if (kept.length === 0) return;
  try {
    res.addTrailers(h2Fields(kept));
  } catch {
    // Node refused a field after all: the answer goes without its trailers.
  }
}

/** The answer's trailers that may pass on (names lowercased), as a raw list. */
export function trailerFields(raw: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (TOKEN.test(name) && !BAD_VALUE.test(value) && !NOT_TRAILERS.has(name) && !isHopByHop(name))
      kept.push(name, value);
  }
  return kept;
}

/**
 * A raw list as the object Node's HTTP/2 (and `addTrailers`) takes: repeated fields become arrays,
 * except those HTTP/2 allows once (Node throws for those), which keep their first value.
 */
function h2Fields(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (!SINGLE_VALUE.has(name)) out[name] = [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  return out;
}

/** The fields Node's HTTP/2 accepts only once (its `kSingleValueHeaders`). */
const SINGLE_VALUE = new Set([
  "access-control-allow-credentials",
  "access-control-max-age",
  "access-control-request-method",
  "age",
  "authorization",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-md5",
  "content-range",
  "content-type",
  "date",
  "dnt",
  "etag",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "range",
  "referer",
  "retry-after",
  "tk",
  "upgrade-insecure-requests",
  "user-agent",
  "x-content-type-options",
]);

/** Fields that must not travel as trailers (RFC 9110 6.5.1), or that the relay sets itself. */
const NOT_TRAILERS = new Set(["content-length", "content-type", "host", "trailer", "x-request-id"]);

/** Whether the body must travel chunked: it is, or it is an HTTP/2 body of unknown length. */
function hasChunkedBody(req: PublicRequest): boolean {
  if (req.headers["content-length"] !== undefined) return false;
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  return req.headers["transfer-encoding"] !== undefined;
}
