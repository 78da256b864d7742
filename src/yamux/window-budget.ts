/**
 * Receive-window growth beyond the configured stream window, shared by every session in the
 * process. A stream whose reader keeps up with a fast sender may double its window, up to
 * MAX_STREAM_WINDOW, while its session's share and the process budget last; what a stream grew is
 * returned when it closes. So fast streams go faster, and streams that later stall cannot make the process
 * buffer without bound: at most the configured window per stream plus the budget in all.
 */
export const MAX_STREAM_WINDOW = 16 * 1024 * 1024;
/** Growth one session (one tunnel) may hold, so one tunnel cannot take the whole budget. */
export const SESSION_GROWTH = 32 * 1024 * 1024;
const BUDGET = 256 * 1024 * 1024;
let lent = 0;

/** Grants up to `want` bytes of growth; 0 once the budget is spent. */
export function borrowWindow(want: number): number {
  const n = Math.max(0, Math.min(want, BUDGET - lent));
  lent += n;
  return n;
}

export function returnWindow(n: number): void {
  lent -= n;
}

/** Growth currently lent out (for tests). */
export function windowLent(): number {
  return lent;
}
