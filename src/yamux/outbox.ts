/**
 * Outgoing frames, written straight into the buffers of the messages that will carry them: at most
 * one copy of each data byte, no allocation per frame, and message boundaries wherever a buffer
 * fills up (they carry no meaning). Buffers start small and double while a burst keeps filling
 * them, up to the largest message (or 256 KiB); an idle session drops back to one small buffer. A
 * large piece of data its caller will not touch again is not copied at all: it leaves as a message
 * of its own, right behind the message that holds its frame header.
 */
import { HEADER_LENGTH, writeHeader } from "./frame.ts";

/** First (and idle) message buffer size. */
const MIN_BUFFER = 16 * 1024;
/**
 * Largest message buffer, even if messages may be larger: fresh 1 MiB buffers cost about 40% more
 * CPU per byte than 256 KiB ones (bench/yamux-micro.ts --message), and four messages per MiB
 * instead of one is nothing.
 */
const MAX_BUFFER = 256 * 1024;
/** A partly filled buffer this small is copied out, so the buffer itself can be reused at once. */
const COPY_OUT_MAX = 4 * 1024;
/**
 * Data at least this large that the caller hands over is sent as is, not copied: its own message
 * costs a WebSocket frame header and one more buffer in the socket write, less than copying it.
 */
export const HAND_OVER_MIN = 16 * 1024;

export class Outbox {
  /** Bytes queued and not yet taken. */
  bytes = 0;
  private readonly maxBuffer: number;
  /** Largest piece sent as is; 0 when nothing is handed over. */
  private readonly maxHandOver: number;
  /** Filled messages, oldest first, from `head` on. */
  private ready: Buffer[] = [];
  private head = 0;
  /** The message being filled. */
  private buf: Buffer | null = null;
  private len = 0;
  private size: number;

  constructor(maxMessageBytes: number, handOver = true) {
    this.maxHandOver = handOver ? maxMessageBytes : 0;
    this.maxBuffer = Math.min(maxMessageBytes, MAX_BUFFER);
    this.size = Math.min(MIN_BUFFER, maxMessageBytes);
  }

  header(type: number, flags: number, streamId: number, length: number): void {
    this.room(HEADER_LENGTH);
    writeHeader(this.buf!, this.len, type, flags, streamId, length);
    this.len += HEADER_LENGTH;
    this.bytes += HEADER_LENGTH;
  }

  /**
   * Queues `src[start, end)`. Copied unless `owned` (the caller never changes those bytes again) and
   * at least HAND_OVER_MIN long: a borrowed `src` may be reused as soon as this returns.
   */
  data(src: Buffer, start: number, end: number, owned = false): void {
    const n = end - start;
    if (owned && this.handsOver(n)) return this.handOver(src.subarray(start, end));
    this.bytes += n;
    while (start < end) {
      this.room(1);
      const n = src.copy(this.buf!, this.len, start, end);
      this.len += n;
      start += n;
    }
  }

  /** Whether an owned piece of `n` bytes would be sent as is. */
  handsOver(n: number): boolean {
    return n >= HAND_OVER_MIN && n <= this.maxHandOver;
  }

  /** Whether more than one message is queued. */
  several(): boolean {
    return this.ready.length - this.head + (this.len > 0 ? 1 : 0) > 1;
  }

  /** The next message to send, or undefined when nothing is queued. */
  take(): Buffer | undefined {
    if (this.head < this.ready.length) {
      const msg = this.ready[this.head++]!;
      if (this.head === this.ready.length) {
        this.ready.length = 0;
        this.head = 0;
      }
      this.bytes -= msg.length;
      return msg;
    }
    if (this.len === 0) return undefined;
    const buf = this.buf!;
    let msg: Buffer;
    if (this.len <= COPY_OUT_MAX) {
      msg = Buffer.allocUnsafe(this.len);
      buf.copy(msg, 0, 0, this.len);
    } else {
      msg = buf.subarray(0, this.len);
      this.buf = null; // handed over with the message
    }
    this.bytes -= this.len;
    this.len = 0;
    return msg;
  }

  /** Nothing is in flight: keep at most one small buffer (nothing is dropped while bytes are queued). */
  idle(): void {
    if (this.bytes > 0) return;
    if (this.size > MIN_BUFFER) {
      this.size = Math.min(MIN_BUFFER, this.maxBuffer);
      this.buf = null;
      this.len = 0;
    }
  }

  clear(): void {
    this.ready = [];
    this.head = 0;
    this.buf = null;
    this.len = 0;
    this.bytes = 0;
  }

  /** `data` as its own message, behind what is queued (its frame header last). */
  private handOver(data: Buffer): void {
    const buf = this.buf;
    if (buf && this.len > 0) {
      this.ready.push(buf.subarray(0, this.len));
      // What is left of the buffer goes on filling: the message above is a view of its start.
      this.buf = buf.subarray(this.len);
      this.len = 0;
    }
    this.ready.push(data);
    this.bytes += data.length;
  }

  /** Makes room for `n` contiguous bytes, closing the current message if it is too full. */
  private room(n: number): void {
    const buf = this.buf;
    if (buf && buf.length - this.len >= n) return;
    if (buf && this.len > 0) {
      this.ready.push(buf.subarray(0, this.len));
      // A buffer filled before it could be sent: the next one may be bigger.
      this.size = Math.min(this.size * 2, this.maxBuffer);
    }
    this.buf = Buffer.allocUnsafe(this.size);
    this.len = 0;
  }
}
