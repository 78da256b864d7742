/** Progress lines on stderr: elapsed time since the suite started, scenario, step. */

export interface Progress {
  step(scenario: string, text: string): void;
}

export function consoleProgress(startedAt = performance.now()): Progress {
  return {
    step(scenario, text) {
      const s = ((performance.now() - startedAt) / 1000).toFixed(1).padStart(6);
      process.stderr.write(`[${s}s] ${scenario}: ${text}\n`);
    },
  };
}

export const quietProgress: Progress = { step() {} };
