/**
 * A scenario's figures. Each repetition adds one tunnel value and, where there is one, the direct
 * value measured in the same repetition; the ratio tunnel ÷ direct is taken per repetition, then
 * every series is summarized as min, median and max.
 */
import { type Summary, summarize } from "./stats.ts";

export interface Figure {
  label: string;
  unit: string;
  /** Which way is better for the tunnel value. */
  better: "higher" | "lower";
  tunnel: Summary;
  direct?: Summary;
  /** tunnel ÷ direct, per repetition. */
  ratio?: Summary;
  note?: string;
}

interface Series {
  label: string;
  unit: string;
  better: "higher" | "lower";
  tunnel: number[];
  direct: number[];
  withRatio: boolean;
  note?: string;
}

export class FigureSet {
  private readonly series = new Map<string, Series>();

  /**
   * Adds one repetition's value. `direct` is the same figure measured directly in the same
   * repetition; `ratio: false` keeps the ratio out (for counts such as errors, where 0 ÷ 0 means nothing).
   */
  add(
    label: string,
    unit: string,
    better: "higher" | "lower",
    tunnel: number,
    direct?: number,
    opts: { ratio?: boolean; note?: string } = {},
  ): void {
    let s = this.series.get(label);
    if (!s) {
      s = { label, unit, better, tunnel: [], direct: [], withRatio: opts.ratio ?? direct !== undefined };
      if (opts.note) s.note = opts.note;
      this.series.set(label, s);
    }
    s.tunnel.push(tunnel);
    if (direct !== undefined) s.direct.push(direct);
  }

  /** Adds a note to a figure (shown under the table), e.g. what the failures were. */
  annotate(label: string, note: string): void {
    const s = this.series.get(label);
    if (!s) throw new Error(`no figure "${label}" to annotate`);
    s.note = s.note ? `${s.note}; ${note}` : note;
  }

  build(): Figure[] {
    return [...this.series.values()].map((s) => {
      const f: Figure = { label: s.label, unit: s.unit, better: s.better, tunnel: summarize(s.tunnel) };
      if (s.direct.length > 0) f.direct = summarize(s.direct);
      if (s.withRatio && s.direct.length === s.tunnel.length) {
        const ratios = s.tunnel.map((t, i) => t / s.direct[i]!);
        if (ratios.some(Number.isFinite))
          f.ratio = summarize(ratios.map((r) => (Number.isFinite(r) ? r : Number.NaN)));
      }
      if (s.note) f.note = s.note;
      return f;
    });
  }
}

/** "503 × 12, ECONNRESET × 3", or "none". */
export function describeFailures(failures: Record<string, number>): string {
  const parts = Object.entries(failures).map(([k, v]) => `${k} × ${v}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}
