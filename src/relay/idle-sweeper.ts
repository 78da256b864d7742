/**
 * The stream idle timeout. One timer for the whole relay compares each watched exchange's byte
 * counts with what they were at the last sweep, so the data path never touches a clock or a timer.
 */

interface Counted {
  bytesIn: number;
  bytesOut: number;
}

interface Watch {
  onIdle: () => void;
  bytes: number;
  since: number;
}

export class IdleSweeper {
  private readonly watched = new Map<Counted, Watch>();
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
    this.watched.set(ex, { onIdle, bytes: ex.bytesIn + ex.bytesOut, since: Date.now() });
    return () => this.watched.delete(ex);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [ex, w] of this.watched) {
      const bytes = ex.bytesIn + ex.bytesOut;
      if (bytes !== w.bytes) {
        w.bytes = bytes;
        w.since = now;
      } else if (now - w.since >= this.idleMs) {
        this.watched.delete(ex);
        w.onIdle();
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.watched.clear();
  }
}
