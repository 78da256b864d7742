/**
 * Exponential backoff with full jitter: attempt n waits a uniform random time in
 * [0, min(cap, base * 2^n)). Resets after a connection stays healthy for `resetAfterMs`.
 */

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  resetAfterMs: number;
  random?: () => number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 500, capMs: 60_000, resetAfterMs: 60_000 };

export class Backoff {
  private attempt = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: Partial<BackoffOptions> = {}) {
    this.opts = { ...defaultBackoff, ...opts };
  }

  get attempts(): number {
    return this.attempt;
  }

  /** The upper bound of the next delay. */
  ceiling(): number {
    return Math.min(this.opts.capMs, this.opts.baseMs * 2 ** Math.min(this.attempt, 30));
  }

  /** The next delay, in ms; advances the attempt count. */
  next(): number {
    const delay = Math.floor((this.opts.random ?? Math.random)() * this.ceiling());
    this.attempt++;
    return delay;
  }

  /** Call when a connection ends; `healthyForMs` is how long it was up. */
  connectionEnded(healthyForMs: number): void {
    if (healthyForMs >= this.opts.resetAfterMs) this.attempt = 0;
  }

  reset(): void {
    this.attempt = 0;
  }
}
