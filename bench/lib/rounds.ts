/**
 * The order of the ways measured in round `r` of a stand-alone comparison (wrk-compare,
 * download-compare): every way once per round. Two ways alternate. With more, the cycle turns by
 * one every second round and runs backwards in odd rounds, so each way takes each position and
 * follows each other way in turn, instead of always trailing the same one.
 */
export function roundOrder<T>(ways: readonly T[], r: number): T[] {
  const n = ways.length;
  const k = n > 2 ? Math.floor(r / 2) % n : 0;
  const order = [...ways.slice(k), ...ways.slice(0, k)];
  return r % 2 === 1 ? order.reverse() : order;
}
