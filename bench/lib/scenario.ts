/** What a scenario is, and what it reports. */
import type { Figure } from "./figures.ts";

export type Mode = "quick" | "full" | "smoke";

export interface ScenarioContext {
  mode: Mode;
  /** Repetitions of each measurement. */
  reps: number;
  /** Reports a step of this scenario (shown with the elapsed time). */
  step(text: string): void;
  /** Records how the scenario was set up (options the build accepted), kept in the results. */
  record(key: string, value: unknown): void;
}

export interface Scenario<P extends object = object> {
  /** Number in the list (1-8), then 9 for cross-node. */
  n: number;
  /** Name for `--only`. */
  id: string;
  title: string;
  params: Record<Mode, P>;
  /** Returns the figures, or a `skipped` reason when the scenario cannot run yet. */
  run(ctx: ScenarioContext, params: P): Promise<Figure[] | { skipped: string }>;
}

export interface ScenarioResult {
  n: number;
  id: string;
  title: string;
  status: "ok" | "skipped" | "failed";
  /** Why it was skipped, or the error it failed with. */
  note?: string;
  params: object;
  /** Set-up details the scenario recorded, such as the secure-channel mode. */
  setup: Record<string, unknown>;
  reps: number;
  seconds: number;
  figures: Figure[];
}
