/**
 * The HTTP/1.1 fast lane: one public connection whose plain requests for a connected agent skip
 * Node's HTTP server. Node's server costs a request object, a response object, their streams and
 * events per request: about half of the relay's CPU for a small GET (bench/wrk-compare.ts). The lane
 * reads the head itself, the router writes it onto a stream, and the answer goes back to the socket
 * as it came (lane-exchange.ts).
 *
 * The lane takes only what it can read without doubt: a complete head in the bytes at hand, HTTP/1.1,
 * a common method, an origin-form target, one Host, no body or one plain Content-Length, and none of
 * Transfer-Encoding, Upgrade or Expect. Anything else (and anything the router does not take: the
 * relay's own routes, an offline agent, a draining relay) goes to Node's HTTP/1.1 server with every
 * byte read so far, and the connection stays there: Node's parser, limits, timeouts and errors
 * apply exactly as if the lane were not there.
 */
import type { Socket } from "node:net";
import { HEAD_END } from "../protocol/http1-framing.ts";
import { HeadError, parseHead, type RequestHead } from "../protocol/request-head.ts";

/** A request the lane read and may serve. */
export interface LaneRequest {
  head: RequestHead;
  method: string;
  /** Origin-form: starts with `/`. */
  target: string;
  host: string;
  /** Body bytes after the head: the Content-Length, 0 without one. */
  length: number;
  /** The client sent `Connection: close`. */
  close: boolean;
}

/** The exchange a request became, as the lane drives it. */
export interface LaneExchange {
  /** The next request body bytes; false asks the lane to stop reading until `lane.resume()`. */
  body(chunk: Buffer): boolean;
  /** The whole request body arrived (at once for a request without one). */
  bodyEnd(): void;
  /** The socket took the bytes it was waiting on (a write returned false before). */
  socketDrained(): void;
  /** The connection ended before the exchange did. */
  gone(): void;
}

/**
 * The router's part: an exchange for the request; null to leave the connection to Node's server
 * (nothing may have been done yet then); REFUSED when it answered with an error itself.
 */
export type LaneServe = (lane: H1Lane, req: LaneRequest) => LaneExchange | null | typeof REFUSED;
export const REFUSED = Symbol("refused");

export interface LaneOptions {
  serve: LaneServe;
  /** Node's HTTP/1.1 server takes the connection from here on (listener.ts `toHttp1`). */
  toHttp1: (socket: Socket, buffered: Buffer) => void;
  maxHeaderBytes: number;
  /** How long a connection may wait between requests (Node's `keepAliveTimeout`). */
  keepAliveMs: number;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]);
/** Origin-form with visible ASCII only (RFC 9112 3.2.1); anything else is Node's to judge. */
const TARGET = /^\/[\x21-\x7e]*$/;
const LENGTH = /^\d{1,15}$/;
const EMPTY = Buffer.alloc(0);

const name = (n: string) => Buffer.from(n, "latin1");
const HOST = name("host");
const CONTENT_LENGTH = name("content-length");
const CONNECTION = name("connection");
/** Headers whose requests stay with Node: other framing, protocol switches, 100-continue. */
const NOT_PLAIN = [name("transfer-encoding"), name("upgrade"), name("expect"), name("http2-settings")];

/** The request in `head` (a complete head, CRLF CRLF included) if the lane may serve it, else null. */
export function plainRequest(head: Buffer): LaneRequest | null {
  let h: RequestHead;
  try {
    h = parseHead(head);
  } catch (err) {
    if (err instanceof HeadError) return null;
    throw err;
  }
  // No control character but the line ends and HTAB anywhere (Node's parser refuses most of them).
  for (let k = 0; k < head.length; k++) {
    const b = head[k]!;
    if (b < 0x20 ? b !== 0x09 && b !== 0x0d && b !== 0x0a : b === 0x7f) return null;
  }
  const line = h.requestLine;
  const sp1 = line.indexOf(" ");
  const sp2 = line.length - 9;
  if (line.charCodeAt(sp2) !== 0x20 || !line.endsWith("HTTP/1.1")) return null;
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  if (!METHODS.has(method) || !TARGET.test(target)) return null;
  let host: string | undefined;
  let hosts = 0;
  let length: string | undefined;
  let close = false;
  for (let i = 0; i < h.count; i++) {
    if (h.nameIs(i, HOST)) {
      host = h.value(i);
      hosts++;
    } else if (h.nameIs(i, CONTENT_LENGTH)) {
      if (length !== undefined) return null;
      length = h.value(i);
    } else if (h.nameIs(i, CONNECTION)) {
      for (const t of h.value(i).split(",")) if (t.trim().toLowerCase() === "close") close = true;
    } else if (NOT_PLAIN.some((n) => h.nameIs(i, n))) return null;
  }
  if (hosts !== 1 || host === "" || (length !== undefined && !LENGTH.test(length))) return null;
  return { head: h, method, target, host: host!, length: length === undefined ? 0 : Number(length), close };
}

export class H1Lane {
  /** Bytes read and not yet used: the next request, or pipelined ones past the current exchange. */
  private buf: Buffer;
  private current: LaneExchange | null = null;
  /** Body bytes of the current request still to come. */
  private remaining = 0;
  private closeAfter = false;
  /** No more requests here: the connection is closing, or Node's server has it. */
  private over = false;
  /** The `Keep-Alive` header's value on an answer that keeps the connection. */
  readonly keepAliveField: string;

  constructor(
    readonly socket: Socket,
    buffered: Buffer,
    private readonly o: LaneOptions,
  ) {
    this.buf = buffered;
    this.keepAliveField = `timeout=${Math.floor(o.keepAliveMs / 1000)}`;
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("close", this.onClose);
    socket.on("drain", this.onDrain);
    socket.on("timeout", this.onTimeout);
    socket.setTimeout(o.keepAliveMs);
    this.next();
    if (!this.over) socket.resume();
  }

  /**
   * Whether the connection may carry another request after the current one: not if the client asked
   * to close, nor while part of the current request is still unread (an answer before the upload).
   */
  get keepAlive(): boolean {
    return !this.closeAfter && !this.over && this.remaining === 0;
  }

  /** Reads the socket again after an exchange's `body` returned false. */
  resume(): void {
    if (!this.over) this.socket.resume();
  }

  /** Writes an error answer (raw, with `Connection: close`) and closes the connection. */
  refuse(answer: string): void {
    this.current = null;
    this.socket.write(answer);
    this.close();
  }

  /**
   * The current exchange's answer is all written. With `reuse`, and when the whole request was read
   * and the client did not ask to close, the next request is served; otherwise the connection ends.
   */
  done(reuse: boolean): void {
    this.current = null;
    if (!reuse || !this.keepAlive) return this.close();
    this.socket.resume();
    this.next();
  }

  /** Serves the request at the start of the buffer, or hands the connection over. */
  private next(): void {
    const buf = this.buf;
    if (buf.length === 0) return;
    const end = buf.indexOf(HEAD_END);
    if (end === -1 || end + 4 > this.o.maxHeaderBytes) return this.handOver();
    const req = plainRequest(buf.subarray(0, end + 4));
    const ex = req && this.o.serve(this, req);
    if (ex === null) return this.handOver();
    if (ex === REFUSED) return;
    this.current = ex;
    this.remaining = req!.length;
    this.closeAfter = req!.close;
    this.buf = buf.subarray(end + 4);
    if (this.remaining === 0) ex.bodyEnd();
    else this.feedBody();
  }

  private feedBody(): void {
    const ex = this.current!;
    const n = Math.min(this.remaining, this.buf.length);
    if (n === 0) return;
    const chunk = n === this.buf.length ? this.buf : this.buf.subarray(0, n);
    this.buf = n === this.buf.length ? EMPTY : this.buf.subarray(n);
    this.remaining -= n;
    const more = ex.body(chunk);
    if (this.remaining === 0) ex.bodyEnd();
    if (!more) this.socket.pause();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.over) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.current === null) return this.next();
    if (this.remaining > 0) this.feedBody();
    // Pipelined requests wait for the current answer; past a head's worth, so does the client.
    if (this.remaining === 0 && this.buf.length > this.o.maxHeaderBytes) this.socket.pause();
  };

  private readonly onDrain = (): void => {
    this.current?.socketDrained();
  };

  /** The client half-closed: nothing more is read, so nothing more is served (as Node's server does). */
  private readonly onEnd = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.over = true;
    const ex = this.current;
    this.current = null;
    ex?.gone();
  };

  private readonly onTimeout = (): void => {
    // Between requests only: an exchange's own idle watch covers a quiet answer.
    if (this.current === null && !this.over) this.socket.destroy();
  };

  /**
   * No more requests: FIN once the answer is written, then the socket goes (as Node's server does
   * after `Connection: close`), whatever the client does with its side.
   */
  private close(): void {
    this.over = true;
    this.socket.setTimeout(0);
    this.socket.destroySoon();
  }

  private handOver(): void {
    this.over = true;
    const s = this.socket;
    s.off("data", this.onData);
    s.off("end", this.onEnd);
    s.off("close", this.onClose);
    s.off("drain", this.onDrain);
    s.off("timeout", this.onTimeout);
    s.setTimeout(0);
    s.pause();
    const rest = this.buf;
    this.buf = EMPTY;
    this.o.toHttp1(s, rest);
  }
}
