/**
 * The peer's end of a stream: read the request head, swap in the identity headers, and hand the
 * request to the local server, over a kept-alive connection (LocalExchange) or, for an upgrade, a
 * connection of its own that pipes bytes both ways until either side ends.
 * Data path: stream → (this) → local socket.
 */
import { connect, type Socket } from "node:net";
import type { Logger } from "pino";
import { DEFAULT_IDENTITY_HEADERS, ERROR_HEADER, MAX_REQUEST_HEAD } from "../protocol/constants.ts";
import { errorBody, HTTP_ERRORS, type HttpErrorCode } from "../protocol/errors.ts";
import { requestBody } from "../protocol/http1-framing.ts";
import {
  findHeadEnd,
  HeadError,
  HeadRewriter,
  parseHead,
  type RequestHead,
} from "../protocol/request-head.ts";
import { StreamDuplex } from "../yamux/duplex.ts";
import type { StreamHandler, YamuxStream } from "../yamux/stream.ts";
import { LocalExchange } from "./local-exchange.ts";
import { LocalPool } from "./local-pool.ts";
import { isProbeToken, PROBE_HEADER } from "./reachability.ts";

export interface IdentityHeaderNames {
  agentId: string;
  agentAddress: string;
  relayOrigin: string;
}

export interface ForwarderOptions {
  /** The local server, http://host:port. */
  target: URL;
  agentId: string;
  /** Checksummed address. */
  address: string;
  headerNames?: IdentityHeaderNames;
  /** Requests in flight before `503 peer_busy`. */
  maxInFlight: number;
  log?: Logger;
}

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  ms: number;
}

export class Forwarder {
  inFlight = 0;
  private readonly opts: ForwarderOptions;
  /** Drops the identity headers a client sent and appends the real ones. */
  private readonly rewrite: HeadRewriter;
  /** For a kept-alive request also the relay's `Connection: close`, which is the relay's hop only. */
  private readonly rewritePooled: HeadRewriter;
  private readonly pool: LocalPool;
  private readonly host: string;
  private readonly port: number;
  /** The current reachability-probe token; a request carrying it is answered here, not forwarded. */
  probeToken: string | undefined;
  /** Called once per finished request, for logs and the live view. */
  onRequest: ((r: RequestRecord) => void) | undefined;

  constructor(opts: ForwarderOptions) {
    this.opts = opts;
    const names = opts.headerNames ?? DEFAULT_IDENTITY_HEADERS;
    const drop = [names.agentId, names.agentAddress, names.relayOrigin].map((n) => n.toLowerCase());
    const add = [names.agentId, opts.agentId, names.agentAddress, opts.address, names.relayOrigin, "1"];
    // A header name or value that cannot go on the wire fails here, at start-up, not on every request.
    this.rewrite = new HeadRewriter(new Set(drop), add);
    this.rewritePooled = new HeadRewriter(new Set([...drop, "connection", "keep-alive"]), add);
    if (opts.target.protocol !== "http:")
      throw new Error(`target must be http://, got ${opts.target.protocol}`);
    this.host = opts.target.hostname.replace(/^\[|\]$/g, "");
    this.port = Number(opts.target.port || 80);
    // As many idle connections as requests may be in flight: with fewer, a busy tunnel closes the
    // surplus after each burst and reconnects for the next (a third of all requests at 1,024
    // concurrent, measured), which costs the peer and the local server more than the requests.
    this.pool = new LocalPool({ host: this.host, port: this.port, maxIdle: opts.maxInFlight });
  }

  /** Closes the idle connections to the local server. */
  close(): void {
    this.pool.close();
  }

  handle(stream: YamuxStream): void {
    if (this.inFlight >= this.opts.maxInFlight) return respond(stream, "peer_busy");
    this.inFlight++;
    stream.attach(new HeadReader(this, stream));
  }

  /** The head is in (`rest` is what came behind it): answer, exchange, or upgrade. */
  route(stream: YamuxStream, head: RequestHead, rest: Buffer, started: number, release: () => void): void {
    if (this.isProbe(head)) return answerProbe(stream, this.probeToken!, release);
    if (isUpgrade(head))
      return this.connectLocal(stream, this.rewrite.apply(head), rest, head.requestLine, started, release);
    const body = requestBody(head.fields("content-length", "transfer-encoding"));
    this.exchange(stream, head.requestLine, body, this.rewritePooled.apply(head), rest, started, release);
  }

  private isProbe(head: RequestHead): boolean {
    if (!this.probeToken) return false;
    const probe = head.fields(PROBE_HEADER);
    return probe.length > 0 && isProbeToken(probe[1], this.probeToken);
  }

  /** A request over a kept-alive connection; its slot is free as soon as its response is complete. */
  private exchange(
    stream: YamuxStream,
    requestLine: string,
    body: ReturnType<typeof requestBody>,
    head: Buffer,
    rest: Buffer,
    started: number,
    release: () => void,
  ): void {
    const method = methodOf(requestLine);
    new LocalExchange(this.pool, stream, method, body, (r) => {
      release();
      if (r.unreachable) this.unreachable(stream);
      this.onRequest?.({
        method,
        path: pathOf(requestLine),
        status: r.unreachable ? HTTP_ERRORS.local_unreachable.status : r.status,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        ms: Math.round(performance.now() - started),
      });
    }).start(head, rest);
  }

  private unreachable(stream: YamuxStream, err?: Error, answered?: () => void): void {
    this.opts.log?.warn({ target: this.opts.target.href, err: err?.message }, "local server unreachable");
    respond(stream, "local_unreachable", answered);
  }

  private connectLocal(
    raw: YamuxStream,
    head: Buffer,
    rest: Buffer,
    requestLine: string,
    started: number,
    release: () => void,
  ): void {
    const stream = new StreamDuplex(raw);
    stream.on("error", () => {}); // resets are expected; "close" tears the pipe down
    stream.on("close", release);
    stream.pause(); // until the local socket is connected
    const socket: Socket = connect({ host: this.host, port: this.port, noDelay: true });
    let connected = false;
    let status = 0;
    let bytesOut = 0;
    let bytesIn = head.length + rest.length;
    socket.once("connect", () => {
      connected = true;
      socket.write(head);
      if (rest.length > 0) socket.write(rest);
      stream.on("data", (c: Buffer) => {
        bytesIn += c.length;
      });
      stream.pipe(socket);
      socket.pipe(stream);
    });
    socket.on("data", (chunk: Buffer) => {
      if (status === 0)
        status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString("latin1", 0, 16))?.[1] ?? 0);
      bytesOut += chunk.length;
    });
    socket.on("error", (err) => {
      if (!connected) {
        status = HTTP_ERRORS.local_unreachable.status;
        this.unreachable(raw, err, release); // the answer takes the stream over from the Duplex
      } else {
        stream.destroy();
      }
    });
    stream.on("close", () => socket.destroy());
    socket.on("close", () => {
      // (Never connected: the stream was answered local_unreachable.) Once the local side is done,
      // whatever the relay still sends is discarded, so its FIN ends the stream (and frees the
      // in-flight slot) even though nothing reads it any more.
      if (connected) {
        if (!stream.writableEnded) stream.destroy();
        else stream.resume();
      }
      this.onRequest?.({
        method: methodOf(requestLine),
        path: pathOf(requestLine),
        status,
        bytesIn,
        bytesOut,
        ms: Math.round(performance.now() - started),
      });
    });
  }
}

/** The method of a request line (which parseHead checked: method SP target SP version). */
function methodOf(requestLine: string): string {
  return requestLine.slice(0, requestLine.indexOf(" "));
}

/** The path of a request line's target, without its query. */
function pathOf(requestLine: string): string {
  const target = requestLine.slice(requestLine.indexOf(" ") + 1, requestLine.lastIndexOf(" "));
  const q = target.indexOf("?");
  return q === -1 ? target : target.slice(0, q);
}

/** Whether the request asks for a protocol switch (the relay keeps `Upgrade` only then). */
function isUpgrade(head: RequestHead): boolean {
  return head.has("upgrade");
}

/** Reads a stream until its request head is complete, then hands it to the forwarder. */
class HeadReader implements StreamHandler {
  private pending: Buffer = EMPTY;
  private readonly started = performance.now();
  private released = false;

  constructor(
    private readonly f: Forwarder,
    private readonly stream: YamuxStream,
  ) {}

  readonly release = (): void => {
    if (!this.released) {
      this.released = true;
      this.f.inFlight--;
    }
  };

  data(chunk: Buffer): void {
    const buffered = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = buffered;
    try {
      const end = findHeadEnd(buffered, MAX_REQUEST_HEAD);
      if (end === -1) return;
      this.pending = EMPTY;
      this.f.route(
        this.stream,
        parseHead(buffered.subarray(0, end)),
        buffered.subarray(end),
        this.started,
        this.release,
      );
    } catch (err) {
      respond(this.stream, err instanceof HeadError ? err.code : "bad_request", this.release);
    }
  }

  end(): void {
    respond(this.stream, "bad_request", this.release); // the relay ended the stream before the head did
  }

  drain(): void {}

  close(): void {
    this.release();
  }
}

const EMPTY = Buffer.alloc(0);

/** Takes whatever else the relay sends for a request already answered. */
function discard(stream: YamuxStream): void {
  stream.attach({ data() {}, end() {}, drain() {}, close() {} });
  // Whoever had the stream may have paused it (a local socket that would not take the body): held
  // data would keep the relay's FIN, and so the stream, forever.
  stream.resume();
}

/** Answers our own reachability probe without touching the local server. */
function answerProbe(stream: YamuxStream, token: string, release: () => void): void {
  discard(stream);
  stream.end(`HTTP/1.1 204 No Content\r\n${PROBE_HEADER}: ${token}\r\nConnection: close\r\n\r\n`);
  release();
}

/**
 * Answers the stream with a JSON error and ends it; `answered` runs then. The exchange is over
 * there: its slot does not wait for the relay's FIN, which may be held (spec, "Batching").
 */
export function respond(stream: YamuxStream, code: HttpErrorCode, answered?: () => void): void {
  discard(stream);
  const body = errorBody(code);
  const { status } = HTTP_ERRORS[code];
  stream.end(
    `HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
      `${ERROR_HEADER}: ${code}\r\nConnection: close\r\n\r\n${body}`,
  );
  answered?.();
}
