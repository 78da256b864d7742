/**
 * One yamux stream. Its user attaches one handler (`attach`) and is called directly: data, the
 * remote's FIN, drain, and close. No Node stream machinery sits on the request path; code that
 * wants to `pipe` wraps the stream in a Duplex (duplex.ts).
 *
 * Flow control: we send at most `sendWindow` bytes before a window update; we credit the remote's
 * window back only for bytes handed to the handler, so a paused user holds the sender back and the
 * stream buffers at most one window.
 */
import { INITIAL_WINDOW } from "./frame.ts";
import type { Session } from "./session.ts";
import { MAX_STREAM_WINDOW } from "./window-budget.ts";

/** A window that this rate would empty in less time than this is grown. */
const GROW_BELOW_MS = 20;

export class StreamResetError extends Error {
  override name = "StreamResetError";
  readonly code = "ERR_STREAM_RESET";
}

/** What the stream tells its user. */
export interface StreamHandler {
  /** Bytes from the remote, in order. The handler may keep the chunk. */
  data(chunk: Buffer): void;
  /** The remote sent FIN: no more data comes. */
  end(): void;
  /** `write` returned false before; the stream takes more now. */
  drain(): void;
  /**
   * The stream is gone, once: `err` when it was reset (by either side) or its session ended,
   * undefined when both sides finished cleanly. Called after the current call stack unwinds.
   */
  close(err: Error | undefined): void;
  /**
   * Bytes handed over but still unread (a Duplex's readable buffer): not credited yet. A handler
   * that holds them calls `stream.credit()` as its reader takes them.
   */
  buffered?(): number;
}

const NO_HANDLER: StreamHandler = { data() {}, end() {}, drain() {}, close() {} };

export class YamuxStream {
  readonly id: number;
  /** Bytes we may still send before the remote credits more. */
  sendWindow = INITIAL_WINDOW;
  /** Bytes the remote may still send us. */
  recvWindow = INITIAL_WINDOW;
  private handler: StreamHandler = NO_HANDLER;
  /** Received bytes not yet credited back to the remote (some may still be in `inbox`). */
  private unacked = 0;
  private readonly session: Session;
  private maxWindow: number;
  /** Window growth borrowed from the process budget (window-budget.ts), returned on close. */
  private grown = 0;
  /** When the last credit went out (or the stream opened). */
  private creditedAt = performance.now();
  /** Data held while paused or before a handler is attached; `inboxBytes` of it. */
  private inbox: Buffer[] = [];
  private inboxBytes = 0;
  /** The remote's FIN arrived behind data still in the inbox. */
  private endHeld = false;
  private paused = false;
  /** Bytes written but not yet framed (no window), oldest first; the first from `queueOffset`. */
  private queue: Buffer[] = [];
  private queueOffset = 0;
  private needDrain = false;
  private finQueued = false;
  private localFin = false;
  private remoteFin = false;
  private gone = false;
  /** Why the stream ended (undefined: both sides finished cleanly). */
  private closeReason: Error | undefined;
  /** Index among the session's writers waiting for the transport (src/util/slots.ts), or -1. */
  slot = -1;
  /** The session's sent-message count when it queued our held ACK (session.ts), or -1. */
  ackQueuedAt = -1;
  /** Our FIN may be held (`endQuiet`). */
  private finQuiet = false;

  constructor(session: Session, id: number, maxWindow: number) {
    this.session = session;
    this.id = id;
    this.maxWindow = maxWindow;
  }

  /**
   * Sets the one handler; anything that arrived before is delivered now (unless paused). A handler
   * attached to a stream that is already gone is told so (`close`) all the same.
   */
  attach(handler: StreamHandler): void {
    this.handler = handler;
    if (this.gone) {
      const err = this.closeReason;
      process.nextTick(() => handler.close(err));
      return;
    }
    if (!this.paused) this.deliver();
  }

  /** Whether the stream is gone (closed cleanly, reset, or its session ended). */
  get destroyed(): boolean {
    return this.gone;
  }

  /** Whether a write of `n` bytes the caller hands over (not borrowed) would be sent without a copy. */
  handsOver(n: number): boolean {
    return this.session.handsOver(n);
  }

  /** Whether we sent (or queued) our FIN. */
  get writableEnded(): boolean {
    return this.finQueued;
  }

  /** Whether the remote's FIN has been handed to the handler. */
  get readableEnded(): boolean {
    return this.remoteFin && !this.endHeld;
  }

  /** Bytes held for the handler (paused). */
  get readableLength(): number {
    return this.inboxBytes;
  }

  /** The receive window granted to the remote now: the configured one, plus any growth. */
  get receiveWindow(): number {
    return this.maxWindow;
  }

  /** The window delta announced with SYN/ACK to grow the remote's view from the initial window. */
  initialCredit(): number {
    const delta = this.maxWindow - INITIAL_WINDOW;
    this.recvWindow += delta;
    return delta;
  }

  // --- The user's side ---

  /** Holds incoming data (and its credit) until `resume`. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.deliver();
  }

  /**
   * Sends `data`, framed at once as far as the window allows; the rest is kept until the remote
   * credits more: as is, or, when `borrowed` (the caller reuses `data` once this returns), as a copy.
   * Returns false when the caller should wait for `drain`.
   */
  write(data: Buffer | string, borrowed = false): boolean {
    if (this.gone || this.finQueued) return false;
    const buf = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    if (buf.length > 0) {
      if (this.queue.length > 0) this.queue.push(borrowed ? Buffer.from(buf) : buf);
      else {
        const at = this.send(buf, 0, !borrowed);
        if (at < buf.length) {
          if (borrowed) this.queue.push(Buffer.from(buf.subarray(at)));
          else {
            this.queue.push(buf);
            this.queueOffset = at;
          }
        }
      }
    }
    if (this.queue.length === 0 && this.session.writable) return true;
    this.needDrain = true;
    if (this.queue.length === 0) this.session.waitWritable(this);
    return false;
  }

  /** Sends `data` if given, then FIN (after everything queued). */
  end(data?: Buffer | string): void {
    if (this.gone || this.finQueued) return;
    if (data !== undefined) this.write(data);
    this.finQueued = true;
    if (this.queue.length === 0) this.sendFin();
  }

  /**
   * `end()` when the remote waits for nothing from our FIN (the exchange is over on both sides):
   * the FIN may wait up to the session's `holdBareMs` for a frame to leave with.
   */
  endQuiet(): void {
    this.finQuiet = true;
    this.end();
  }

  /** The handler's reader took buffered bytes (see `StreamHandler.buffered`). */
  credit(): void {
    if (this.unacked !== 0) this.maybeCredit();
  }

  /** Resets the stream (unless both sides already finished) and drops whatever is held. */
  destroy(err?: Error): void {
    if (this.gone) return;
    if (!(this.localFin && this.remoteFin)) this.session.sendRst(this.id);
    this.finish(err ?? new StreamResetError("stream destroyed"));
  }

  // --- Called by the session for frames that arrive on this stream ---

  /** Returns false if the bytes exceed the window we granted (a protocol error). */
  reserve(length: number): boolean {
    if (length > this.recvWindow) return false;
    this.recvWindow -= length;
    return true;
  }

  onData(chunk: Buffer): void {
    if (this.remoteFin || this.gone) return; // late data after FIN or reset: discard
    this.unacked += chunk.length;
    if (this.paused || this.handler === NO_HANDLER || this.inboxBytes > 0) {
      this.inbox.push(chunk);
      this.inboxBytes += chunk.length;
      return;
    }
    this.handler.data(chunk);
    this.maybeCredit();
  }

  /** Returns false if the remote granted more than 2^32-1 bytes at once (a protocol error). */
  onWindowUpdate(delta: number): boolean {
    this.sendWindow += delta;
    if (this.sendWindow > 0xffffffff) return false;
    if (this.queue.length > 0) this.flushQueue();
    return true;
  }

  onRemoteFin(): void {
    if (this.remoteFin || this.gone) return;
    this.remoteFin = true;
    if (this.inboxBytes > 0 || this.paused || this.handler === NO_HANDLER) this.endHeld = true;
    else this.handler.end();
    this.maybeDone();
  }

  onRemoteReset(): void {
    this.finish(new StreamResetError("stream reset by remote"));
  }

  /** The session ended: fail the stream without sending anything. */
  onSessionClosed(err: Error): void {
    this.finish(err);
  }

  /** The session takes writes again (see `Session.waitWritable`). */
  onWritable(): void {
    if (this.needDrain && this.queue.length === 0 && !this.gone) {
      this.needDrain = false;
      this.handler.drain();
    }
  }

  /** The stream is done: hands back its window growth (once) for the session to return. */
  takeGrowth(): number {
    const n = this.grown;
    this.grown = 0;
    return n;
  }

  // --- Internals ---

  /** Hands held data (and a held FIN) to the handler while it is not paused. */
  private deliver(): void {
    while (this.inbox.length > 0 && !this.paused && !this.gone) {
      const chunk = this.inbox.shift()!;
      this.inboxBytes -= chunk.length;
      this.handler.data(chunk);
    }
    if (this.inbox.length > 0 || this.paused || this.gone) return;
    if (this.endHeld) {
      this.endHeld = false;
      this.handler.end();
      this.maybeDone();
    } else this.maybeCredit();
  }

  /**
   * Frames `buf[offset..]` as far as the window allows; returns where it stopped. `owned`: the
   * caller never changes `buf` again, so a large frame may carry it without a copy.
   */
  private send(buf: Buffer, offset: number, owned: boolean): number {
    const max = this.session.maxFrameData;
    let at = offset;
    while (this.sendWindow > 0 && at < buf.length) {
      const n = Math.min(buf.length - at, this.sendWindow, max);
      this.session.sendData(this.id, buf, at, at + n, owned);
      at += n;
      this.sendWindow -= n;
    }
    return at;
  }

  private flushQueue(): void {
    while (this.queue.length > 0) {
      const buf = this.queue[0]!;
      const at = this.send(buf, this.queueOffset, true); // queued buffers are the stream's (copies if borrowed)
      if (at < buf.length) {
        this.queueOffset = at;
        return;
      }
      this.queue.shift();
      this.queueOffset = 0;
    }
    if (this.finQueued && !this.localFin) this.sendFin();
    if (this.needDrain) {
      if (this.session.writable) this.onWritable();
      else this.session.waitWritable(this);
    }
  }

  private sendFin(): void {
    this.localFin = true;
    this.session.sendFin(this.id, this.finQuiet);
    this.maybeDone();
  }

  private maybeCredit(): void {
    if (this.gone || this.remoteFin) return;
    // Credit only what the handler took, in batches of at least half a window: one update per
    // frame would double the frame count.
    const held = this.inboxBytes + (this.handler.buffered?.() ?? 0);
    const consumed = this.unacked - held;
    if (consumed < this.maxWindow / 2) return;
    let delta = consumed;
    const now = performance.now();
    // The handler has taken everything and, at the rate it goes, would empty a whole window in less
    // than GROW_BELOW_MS: a window that small, not either end, will hold the stream back as soon as
    // the round trip or a pause on either side is that long. Double it, while the budget lasts.
    if (
      held === 0 &&
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

  private maybeDone(): void {
    // Both directions closed cleanly and the FIN was handed over: the stream is finished.
    if (this.localFin && this.remoteFin && !this.endHeld) this.finish(undefined);
  }

  private finish(err: Error | undefined): void {
    if (this.gone) return;
    this.gone = true;
    this.closeReason = err;
    this.inbox = [];
    this.inboxBytes = 0;
    this.queue = [];
    this.session.forget(this);
    const handler = this.handler;
    process.nextTick(() => handler.close(err));
  }
}
