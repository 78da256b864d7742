/** Summaries over repetitions (min, median, max) and percentiles over samples. */

export interface Summary {
  /** Over the repetitions that produced a value; NaN (null in JSON) when none did. */
  min: number;
  median: number;
  max: number;
  /** Every repetition's value, in run order; NaN (null in JSON) where it produced none. */
  values: number[];
  /** Repetitions that produced no value (for example a latency with no successful request). */
  missing?: number;
}

export function summarize(values: number[]): Summary {
  if (values.length === 0) throw new Error("summarize: no values");
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const missing = values.length - sorted.length;
  const mid = sorted.length >> 1;
  const median =
    sorted.length === 0
      ? Number.NaN
      : sorted.length % 2 === 1
        ? sorted[mid]!
        : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const s: Summary = {
    min: sorted[0] ?? Number.NaN,
    median,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    values: [...values],
  };
  if (missing > 0) s.missing = missing;
  return s;
}

/** Nearest-rank percentile of `sorted` (ascending), p in [0, 100]. NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
