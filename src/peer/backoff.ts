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

/**
 * The retries after a relay said it is restarting (Go Away 3 or close 1012): a short burst of
 * jittered attempts, full jitter with a small base and cap (250 ms doubling to 1 s), so a peer is
 * back within about a second of the new relay listening, while thousands of peers spread their
 * attempts over that second instead of arriving together. The burst is bounded: after `retries`
 * attempts the ordinary backoff takes over, and these attempts do not count towards it (a planned
 * restart is not a failure).
 */
export interface RestartRetryOptions {
  baseMs: number;
  capMs: number;
  retries: number;
  random?: () => number;
}

export const defaultRestartRetry: RestartRetryOptions = { baseMs: 250, capMs: 1000, retries: 10 };

export class RestartRetry {
  private readonly delays: Backoff;
  private readonly retries: number;
  private left = 0;

  constructor(opts: Partial<RestartRetryOptions> = {}) {
    const o = { ...defaultRestartRetry, ...opts };
    this.retries = o.retries;
    this.delays = new Backoff({
      baseMs: o.baseMs,
      capMs: o.capMs,
      resetAfterMs: Number.POSITIVE_INFINITY,
      ...(o.random ? { random: o.random } : {}),
    });
  }

  /** True while quick retries are left. */
  get active(): boolean {
    return this.left > 0;
  }

  /** The relay is restarting: a fresh burst of quick retries. */
  begin(): void {
    this.left = this.retries;
    this.delays.reset();
  }

  /** Connected again, or the relay asked to slow down: no more quick retries. */
  end(): void {
    this.left = 0;
  }

  /** The next quick delay in ms, or undefined once none are left (use the ordinary backoff). */
  next(): number | undefined {
    if (this.left <= 0) return undefined;
    this.left--;
    return this.delays.next();
  }
}
