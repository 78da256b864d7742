/**
 * One yamux stream as a Node Duplex. Flow control: we send at most `sendWindow` bytes before a
 * window update; we credit the remote's window back only for bytes our reader has taken out of the
 * readable buffer, so a slow reader holds the sender back and buffers at most one window.
 */
import { Duplex } from "node:stream";
import { INITIAL_WINDOW } from "./frame.ts";
import type { Session } from "./session.ts";
import { MAX_STREAM_WINDOW } from "./window-budget.ts";

/** A window that this rate would empty in less time than this is grown. */
const GROW_BELOW_MS = 20;

export class StreamResetError extends Error {
  override name = "StreamResetError";
  readonly code = "ERR_STREAM_RESET";
}

export class YamuxStream extends Duplex {
  readonly id: number;
  /** Bytes we may still send before the remote credits more. */
  sendWindow = INITIAL_WINDOW;
  /** Bytes the remote may still send us. */
  recvWindow = INITIAL_WINDOW;
  /** Received bytes not yet credited back to the remote (some may still be in the read buffer). */
  private unacked = 0;
  private readonly session: Session;
  private maxWindow: number;
  /** Window growth borrowed from the process budget (window-budget.ts), returned on close. */
  private grown = 0;
  /** When the last credit went out (or the stream opened). */
  private creditedAt = performance.now();
  private pendingChunk: Buffer | null = null;
  private pendingOffset = 0;
  private pendingCb: ((err?: Error | null) => void) | null = null;
  private localFin = false;
  private remoteFin = false;
  private wasReset = false;

  constructor(session: Session, id: number, maxWindow: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 64 * 1024 });
    this.session = session;
    this.id = id;
    this.maxWindow = maxWindow;
  }

  /** The window delta announced with SYN/ACK to grow the remote's view from the initial window. */
  initialCredit(): number {
    const delta = this.maxWindow - INITIAL_WINDOW;
    this.recvWindow += delta;
    return delta;
  }

  // --- Called by the session for frames that arrive on this stream ---

  /** Returns false if the bytes exceed the window we granted (a protocol error). */
  reserve(length: number): boolean {
    if (length > this.recvWindow) return false;
    this.recvWindow -= length;
    return true;
  }

  onData(chunk: Buffer): void {
    if (this.remoteFin || this.destroyed) return; // late data after FIN or reset: discard
    this.unacked += chunk.byteLength;
    if (this.push(chunk)) this.maybeCredit();
  }

  /** Returns false if the remote granted more than 2^32-1 bytes at once (a protocol error). */
  onWindowUpdate(delta: number): boolean {
    this.sendWindow += delta;
    if (this.sendWindow > 0xffffffff) return false;
    if (this.pendingChunk) this.flushPending();
    return true;
  }

  onRemoteFin(): void {
    if (this.remoteFin) return;
    this.remoteFin = true;
    this.push(null);
    this.maybeFinished();
  }

  onRemoteReset(): void {
    this.wasReset = true;
    this.destroy(new StreamResetError("stream reset by remote"));
  }

  /** The session ended: fail the stream without sending anything. */
  onSessionClosed(err: Error): void {
    this.wasReset = true;
    this.destroy(err);
  }

  // --- Duplex implementation ---

  override _read(): void {
    this.maybeCredit();
  }

  /**
   * Every consumer (`data` events, pipe, async iteration, `read()`) takes bytes out through here,
   * so this is where consumed bytes become credit. `_read` alone is not enough: Node calls it
   * before it removes the bytes being read, and not again until we push.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the base signature returns any
  override read(size?: number): any {
    const chunk = super.read(size);
    if (chunk !== null && this.unacked !== 0) this.maybeCredit();
    return chunk;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (chunk.byteLength === 0) return cb();
    this.pendingChunk = chunk;
    this.pendingOffset = 0;
    this.pendingCb = cb;
    this.flushPending();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.wasReset) this.session.sendFin(this.id);
    this.localFin = true;
    cb();
    this.maybeFinished();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.wasReset && !(this.localFin && this.remoteFin)) {
      this.wasReset = true;
      this.session.sendRst(this.id);
    }
    const pending = this.pendingCb;
    this.pendingChunk = null;
    this.pendingCb = null;
    this.session.forget(this);
    if (pending) pending(err ?? new StreamResetError("stream destroyed"));
    cb(err);
  }

  /** Node sockets have these; http.ClientRequest calls them on the socket it is given. */
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(_ms: number, _cb?: () => void): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  private flushPending(): void {
    const chunk = this.pendingChunk!;
    const max = this.session.maxFrameData;
    while (this.sendWindow > 0 && this.pendingOffset < chunk.byteLength) {
      const n = Math.min(chunk.byteLength - this.pendingOffset, this.sendWindow, max);
      this.session.sendData(this.id, chunk, this.pendingOffset, this.pendingOffset + n);
      this.pendingOffset += n;
      this.sendWindow -= n;
    }
    if (this.pendingOffset < chunk.byteLength) return; // wait for a window update
    const cb = this.pendingCb!;
    this.pendingChunk = null;
    this.pendingCb = null;
    this.session.whenWritable(cb);
  }

  private maybeCredit(): void {
    if (this.wasReset || this.remoteFin) return;
    // Credit only what the reader took, in batches of at least half a window: one update per
    // frame would double the frame count.
    const consumed = this.unacked - this.readableLength;
    if (consumed < this.maxWindow / 2) return;
    let delta = consumed;
    const now = performance.now();
    // The reader has taken everything and, at the rate it goes, would empty a whole window in less
    // than GROW_BELOW_MS: a window that small, not either end, will hold the stream back as soon as
    // the round trip or a pause on either side is that long. Double it, while the budget lasts.
    if (
      this.readableLength === 0 &&
      this.maxWindow < MAX_STREAM_WINDOW &&
      (now - this.creditedAt) * this.maxWindow < GROW_BELOW_MS * consumed
    ) {
      const extra = this.session.borrowGrowth(Math.min(this.maxWindow, MAX_STREAM_WINDOW - this.maxWindow));
      this.maxWindow += extra;
      this.grown += extra;
      delta += extra;
    }
    this.creditedAt = now;
    this.unacked -= consumed;
    this.recvWindow += delta;
    this.session.sendWindowUpdate(this.id, delta);
  }

  /** The receive window granted to the remote now: the configured one, plus any growth. */
  get receiveWindow(): number {
    return this.maxWindow;
  }

  /** The stream is done: hands back its window growth (once) for the session to return. */
  takeGrowth(): number {
    const n = this.grown;
    this.grown = 0;
    return n;
  }

  private maybeFinished(): void {
    // Both directions closed cleanly: the stream no longer needs a slot in the session.
    if (this.localFin && this.remoteFin) this.session.forget(this);
  }
}
