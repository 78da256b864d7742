/**
 * A yamux stream as a Node Duplex, for code that pipes (upgrades, the cluster's raw hops, Node's
 * HTTP client, tests). The request path uses the stream's handler directly and never builds one.
 * Backpressure both ways: bytes in the readable buffer are credited only once read, a full buffer
 * pauses the stream, and a write waits for the stream's drain.
 */
import { Duplex } from "node:stream";
import type { StreamHandler, YamuxStream } from "./stream.ts";

export class StreamDuplex extends Duplex {
  private pendingCb: ((err?: Error | null) => void) | null = null;

  constructor(readonly stream: YamuxStream) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 64 * 1024 });
    const handler: StreamHandler = {
      data: (chunk) => {
        if (!this.push(chunk)) stream.pause();
      },
      end: () => this.push(null),
      drain: () => {
        const cb = this.pendingCb;
        this.pendingCb = null;
        cb?.();
      },
      // A clean finish ends both halves by itself (autoDestroy); only a reset or a dead session
      // fails the Duplex.
      close: (err) => {
        if (err && !this.destroyed) this.destroy(err);
      },
      buffered: () => this.readableLength,
    };
    stream.attach(handler);
  }

  get id(): number {
    return this.stream.id;
  }

  // --- Duplex implementation ---

  /**
   * Every consumer (`data` events, pipe, async iteration, `read()`) takes bytes out through here,
   * so this is where taken bytes become credit. `_read` alone is not enough: Node calls it before
   * it removes the bytes being read, and not again until we push.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the base signature returns any
  override read(size?: number): any {
    const chunk = super.read(size);
    if (chunk !== null) this.stream.credit();
    return chunk;
  }

  override _read(): void {
    this.stream.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.stream.destroyed) return cb(new Error("stream is closed"));
    if (this.stream.write(chunk)) cb();
    else this.pendingCb = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.stream.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stream.destroy(err ?? undefined);
    const pending = this.pendingCb;
    this.pendingCb = null;
    pending?.(err ?? new Error("stream destroyed"));
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
}
