/**
 * One public request onto one yamux stream. HTTP/1.1 and HTTP/2 requests alike go out as HTTP/1.1
 * through Node's own client, writing into the stream; the answer is parsed back and streamed to the
 * public client with backpressure both ways, trailers and `100 Continue` included.
 */
import { type ClientRequest, type IncomingMessage, request } from "node:http";
import { type Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Socket } from "node:net";
import type { HttpErrorCode } from "../protocol/errors.ts";
import type { YamuxStream } from "../yamux/stream.ts";
import type { Exchange } from "./exchange.ts";
import { type ForwardInfo, forwardRequestHeaders, forwardResponseHeaders } from "./forward-headers.ts";
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
  stream: YamuxStream,
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

/** Writes a status and raw header list to the public client at once (answers may stream). */
export function writeHead(
  res: PublicResponse,
  status: number,
  headers: string[],
  statusMessage?: string,
): void {
  if (res instanceof Http2ServerResponse) {
    // HTTP/2 sends the HEADERS frame on writeHead; repeated fields become arrays.
    const obj: Record<string, string | string[]> = {};
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!.toLowerCase();
      const prev = obj[name];
      obj[name] =
        prev === undefined ? headers[i + 1]! : [...(Array.isArray(prev) ? prev : [prev]), headers[i + 1]!];
    }
    res.writeHead(status, obj);
  } else {
    res.writeHead(status, statusMessage, headers);
    // A streaming answer must show its head at once; an ordinary one has its first body bytes in
    // the same read, and Node sends head and body in one write if we wait for the end of this turn.
    setImmediate(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
    });
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
    ex.bytesOut += c.byteLength;
  });
  answer.pipe(res as NodeJS.WritableStream, { end: false });
  answer.on("end", () => {
    if (answer.rawTrailers.length > 0) res.addTrailers(answer.trailers);
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
  private readonly unwatch: () => void;

  constructor(
    private readonly o: Omit<ProxyOptions, "maxBodyBytes">,
    private readonly upstream: ClientRequest,
    private readonly stream: YamuxStream,
  ) {
    this.unwatch = o.idle.watch(o.ex, () => this.abort("idle_timeout"));
  }

  /** The whole request is on the stream: the agent's clock starts. */
  startClock(): void {
    if (!this.over)
      this.firstByte = setTimeout(() => this.abort("gateway_timeout"), this.o.firstByteTimeoutMs);
  }

  stopClock(): void {
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
    this.upstream.destroy();
    this.stream.destroy();
  }
}

export function proxyRequest(
  req: PublicRequest,
  res: PublicResponse,
  stream: YamuxStream,
  o: ProxyOptions,
): void {
  const { ex } = o;
  const headers = forwardRequestHeaders(req.rawHeaders, o.info);
  const chunked = hasChunkedBody(req);
  if (chunked) headers.push("Transfer-Encoding", "chunked");
  const upstream = upstreamRequest(req, stream, req.method ?? "GET", headers);
  const guard = new StreamGuard(o, upstream, stream);
  let relayed = false;

  upstream.on("finish", () => guard.startClock());
  upstream.on("continue", () => res.writeContinue());
  upstream.on("response", (answer) => {
    guard.stopClock();
    try {
      writeAnswerHead(res, answer);
    } catch {
      return guard.abort("bad_response"); // say, a duplicate single-value header HTTP/2 cannot carry
    }
    pipeAnswer(
      answer,
      res,
      ex,
      () => guard.abort("tunnel_error"),
      () => {
        relayed = true;
        // Node's client stops reading once the answer is complete; drain the rest so the peer's FIN
        // ends the stream (and frees its slot) instead of leaving it half-read.
        stream.resume();
      },
    );
  });
  upstream.on("error", () => guard.abort("tunnel_error"));
  // (An HTTP/2 response emits "finish" even when the client reset the stream: only "close" and
  // our own record of a relayed answer tell the two apart.)
  res.on("close", () => {
    // The client went away before the answer was complete, or the answer came before the whole
    // request went out: reset the stream so the local server sees its socket close.
    guard.end();
    if (!relayed || !upstream.writableFinished) guard.reset();
  });

  req.on("data", (c: Buffer) => {
    ex.bytesIn += c.byteLength;
    if (o.maxBodyBytes > 0 && ex.bytesIn > o.maxBodyBytes) guard.abort("body_too_large");
  });
  req.pipe(upstream, { end: false });
  req.on("end", () => {
    if (guard.over) return;
    if (chunked && req.rawTrailers.length > 0) upstream.addTrailers(req.trailers);
    upstream.end();
  });
}

/** Whether the body must travel chunked: it is, or it is an HTTP/2 body of unknown length. */
function hasChunkedBody(req: PublicRequest): boolean {
  if (req.headers["content-length"] !== undefined) return false;
  if (req.httpVersionMajor === 2) return !(req as Http2ServerRequest).stream.endAfterHeaders;
  return req.headers["transfer-encoding"] !== undefined;
}
