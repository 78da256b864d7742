/**
 * One request from a stream to the local server over a keep-alive connection, and its response
 * back. Bytes pass through unchanged in both directions; the framing is only read to know where
 * the request and the response end, so the connection can carry the next request.
 * Data path: stream → (this) → pooled local socket, and back.
 */
import { MAX_REQUEST_HEAD } from "../protocol/constants.ts";
import {
  type BodyScanner,
  FramingError,
  HeadCollector,
  parseResponseHead,
  UntilClose,
} from "../protocol/http1-framing.ts";
import type { StreamHandler, YamuxStream } from "../yamux/stream.ts";
import { type ConnectionUser, LOCAL_READ_SIZE, type LocalConnection, type LocalPool } from "./local-pool.ts";

export interface ExchangeResult {
  /** The final response status; 0 when none came. */
  status: number;
  bytesIn: number;
  bytesOut: number;
  /** The local server could not be reached: nothing was sent on the stream yet. */
  unreachable: boolean;
}

/** Methods a request may be repeated with (RFC 9110 9.2.2), when a reused connection was stale. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
/** Request bytes kept for that one repeat, at most. */
const MAX_REPEAT_BYTES = 64 * 1024;

enum Phase {
  Head,
  Body,
  /** Not HTTP any more (101, or a response we cannot frame): bytes until the close. */
  Raw,
  Done,
}

export class LocalExchange implements ConnectionUser, StreamHandler {
  private conn!: LocalConnection;
  private phase = Phase.Head;
  private readonly head = new HeadCollector(MAX_REQUEST_HEAD);
  private body: BodyScanner | null = null;
  private status = 0;
  private reusable = false;
  private hint: number | undefined;
  private requestDone = false;
  private responseStarted = false;
  /** Copies of the request bytes written so far, for a repeat; null once that is impossible. */
  private sent: Buffer[] | null = null;
  private sentBytes = 0;
  private bytesIn = 0;
  private bytesOut = 0;

  constructor(
    private readonly pool: LocalPool,
    private readonly stream: YamuxStream,
    private readonly method: string,
    private readonly requestBody: BodyScanner,
    private readonly done: (r: ExchangeResult) => void,
  ) {}

  /** Writes the (rewritten) head and the bytes already read behind it, then pipes the rest. */
  start(head: Buffer, rest: Buffer): void {
    this.conn = this.pool.acquire(this);
    if (this.conn.reused && IDEMPOTENT.has(this.method)) this.sent = [];
    this.writeRequest(head);
    this.data(rest);
    this.stream.attach(this);
  }

  // --- The request: stream → local socket ---

  data(chunk: Buffer): void {
    if (this.requestDone || this.phase === Phase.Done) return;
    let end: number;
    try {
      end = this.requestBody.scan(chunk, 0);
    } catch {
      return this.fail(); // the relay wrote framing it should not have
    }
    if (end !== -1) this.requestDone = true; // anything behind the request's end is not ours
    this.writeRequest(end === -1 || end === chunk.length ? chunk : chunk.subarray(0, end));
  }

  private writeRequest(buf: Buffer): void {
    if (buf.length === 0) return;
    this.bytesIn += buf.length;
    if (this.sent) {
      this.sentBytes += buf.length;
      if (this.sentBytes <= MAX_REPEAT_BYTES) this.sent.push(buf);
      else this.sent = null;
    }
    if (!this.conn.socket.write(buf)) this.stream.pause();
  }

  onDrain(): void {
    if (this.phase !== Phase.Done) this.stream.resume();
  }

  end(): void {
    // The relay ended its side before the request did: pass the FIN on, and never reuse this one.
    if (!this.requestDone && this.phase !== Phase.Done) this.conn.socket.end();
  }

  close(): void {
    // A reset (the public client left, or a relay timeout): the local server sees its socket close.
    if (this.phase !== Phase.Done) this.fail();
  }

  // --- The response: local socket → stream ---

  onData(chunk: Buffer, owned: boolean): boolean {
    this.responseStarted = true;
    let i = 0;
    try {
      while (i < chunk.length && this.phase !== Phase.Raw) {
        if (this.phase === Phase.Head) i = this.readHead(chunk, i);
        else if (this.phase === Phase.Body) {
          const end = this.body!.scan(chunk, i);
          if (end === -1) i = chunk.length;
          else {
            i = end;
            this.phase = Phase.Done;
          }
        }
        if (this.phase === Phase.Done) break;
      }
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      this.toRaw(); // the relay's own parser gives its verdict; here the bytes just flow to the close
    }
    if (this.phase !== Phase.Done) {
      this.forward(chunk, owned);
      return this.stream.handsOver(LOCAL_READ_SIZE);
    }
    if (i < chunk.length) this.reusable = false; // bytes past the response: out of step
    this.forward(i === chunk.length ? chunk : chunk.subarray(0, i), owned);
    this.finish();
    return false;
  }

  /** Reads (part of) a response head from `chunk[i..]`; returns where reading stopped. */
  private readHead(chunk: Buffer, i: number): number {
    const got = this.head.take(chunk, i); // a head over the limit throws: the rest flows raw
    if (got === null) return chunk.length;
    const next = got.next;
    const h = parseResponseHead(got.head, this.method);
    if (h.interim) return next; // 100 Continue, 103 Early Hints: the real head follows
    this.status = h.status;
    this.reusable = h.reusable;
    this.hint = h.keepAliveTimeout;
    if (h.upgrade) this.toRaw();
    else if (h.body === null) this.phase = Phase.Done;
    else this.phase = Phase.Body;
    this.body = h.body;
    return next;
  }

  private toRaw(): void {
    this.phase = Phase.Raw;
    this.reusable = false;
  }

  /** `owned`: the stream may keep `buf` as is; otherwise it is the pool's shared buffer, copied. */
  private forward(buf: Buffer, owned: boolean): void {
    this.bytesOut += buf.length;
    if (!this.stream.write(buf, !owned)) this.conn.socket.pause();
  }

  drain(): void {
    if (this.phase !== Phase.Done) this.conn.socket.resume();
  }

  onEnd(): void {
    // FIN from the local server. It ends a response read to the close; anything else is cut short.
    if (this.phase === Phase.Raw || (this.phase === Phase.Body && this.body instanceof UntilClose)) {
      this.phase = Phase.Done;
      this.reusable = false;
      return this.finish();
    }
    this.lost(true);
  }

  onClose(connected: boolean, hadError: boolean): void {
    if (this.phase === Phase.Done) return;
    if (!connected) {
      this.phase = Phase.Done;
      return this.done(this.result(true));
    }
    // Only a clean close ends a response read to the close; a reset cuts it.
    if (!hadError && (this.phase === Phase.Raw || this.body instanceof UntilClose)) return this.onEnd();
    this.lost(true);
  }

  /** The connection ended before the response did. */
  private lost(connected: boolean): void {
    if (this.phase === Phase.Done) return;
    if (connected && !this.responseStarted && this.sent !== null) return this.repeat();
    this.fail();
  }

  /** A reused connection closed under a request before any answer: send it again on a new one. */
  private repeat(): void {
    const sent = this.sent!;
    this.sent = null;
    const stale = this.conn;
    stale.user = null;
    stale.socket.destroy();
    this.conn = this.pool.acquire(this, true);
    for (const buf of sent) this.conn.socket.write(buf);
  }

  // --- Ends ---

  private finish(): void {
    const s = this.stream;
    s.end();
    s.resume(); // whatever else the relay sends for this request is discarded
    this.conn.socket.resume();
    if (this.reusable && this.requestDone) this.pool.release(this.conn, this.hint);
    else this.conn.destroy();
    this.done(this.result(false));
  }

  /** Ends the exchange on a failure: the local connection closes and the stream is reset. */
  private fail(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.conn.destroy();
    this.stream.destroy();
    this.done(this.result(false));
  }

  private result(unreachable: boolean): ExchangeResult {
    return { status: this.status, bytesIn: this.bytesIn, bytesOut: this.bytesOut, unreachable };
  }
}
