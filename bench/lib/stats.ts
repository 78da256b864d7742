/** Summaries over repetitions (min, median, max) and percentiles over samples. */

export interface Summary {
  min: number;
  median: number;
  max: number;
  /** Every repetition's value, in run order. */
  values: number[];
}

export function summarize(values: number[]): Summary {
  if (values.length === 0) throw new Error("summarize: no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, max: sorted[sorted.length - 1]!, values: [...values] };
}

/** Nearest-rank percentile of `sorted` (ascending), p in [0, 100]. NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
