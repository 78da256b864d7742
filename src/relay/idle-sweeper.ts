/**
 * The stream idle timeout. One timer for the whole relay compares each watched exchange's byte
 * counts with what they were at the last sweep, so the data path never touches a clock or a timer.
 */
import { Slots } from "../util/slots.ts";

interface Counted {
  bytesIn: number;
  bytesOut: number;
}

class Watch {
  slot = -1;
  bytes: number;
  since = Date.now();
  constructor(
    readonly ex: Counted,
    readonly onIdle: () => void,
  ) {
    this.bytes = ex.bytesIn + ex.bytesOut;
  }
}

export class IdleSweeper {
  private readonly watched = new Slots<Watch>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly idleMs: number) {
    this.timer = setInterval(() => this.sweep(), Math.min(5000, Math.max(10, Math.floor(idleMs / 4))));
    this.timer.unref();
  }

  get size(): number {
    return this.watched.size;
  }

  /** Calls `onIdle` once if `ex` moves no byte either way for the idle timeout; returns the way to stop. */
  watch(ex: Counted, onIdle: () => void): () => void {
    const w = new Watch(ex, onIdle);
    this.watched.add(w);
    return () => this.watched.remove(w);
  }

  private sweep(): void {
    const now = Date.now();
    for (const w of this.watched.values()) {
      if (!this.watched.has(w)) continue; // stopped by an earlier onIdle in this sweep
      const bytes = w.ex.bytesIn + w.ex.bytesOut;
      if (bytes !== w.bytes) {
        w.bytes = bytes;
        w.since = now;
      } else if (now - w.since >= this.idleMs) {
        this.watched.remove(w);
        w.onIdle();
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.watched.drain();
  }
}
