/**
 * Token buckets by key (client IP, agent address): each holds up to `capacity` tokens and refills at
 * `capacity` per `periodMs`. A bucket that has refilled completely is the same as no bucket, so
 * `sweep()` forgets it; memory follows the keys active in the last period.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(
    private readonly capacity: number,
    periodMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.perMs = capacity / periodMs;
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token for `key`: 0 if granted, else the milliseconds until one will be there. */
  take(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key);
    if (b === undefined) {
      this.buckets.set(key, { tokens: this.capacity - 1, at: t });
      return 0;
    }
    b.tokens = Math.min(this.capacity, b.tokens + (t - b.at) * this.perMs);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.perMs);
  }

  /** Forgets buckets that are full again. */
  sweep(): void {
    const t = this.now();
    for (const [key, b] of this.buckets) {
      if (b.tokens + (t - b.at) * this.perMs >= this.capacity) this.buckets.delete(key);
    }
  }
}
