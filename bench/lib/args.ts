/**
 * `--name value` flags for the bench's stand-alone scripts (socket-floor, wrk-compare, download-compare,
 * auth-rate, yamux-micro). A value that is not a positive number ends the script with a one-line message.
 */
export interface Flags {
  /** The raw args, for scripts that pass them on to a child. */
  readonly argv: readonly string[];
  has(name: string): boolean;
  text(name: string): string | undefined;
  /** A positive number (`whole`: a positive whole number), or `dflt` when the flag is absent. */
  number(name: string, dflt: number, whole?: boolean): number;
  /** A comma-separated list of positive whole numbers. */
  numbers(name: string, dflt: readonly number[]): number[];
}

export function flags(script: string, argv: readonly string[] = process.argv.slice(2)): Flags {
  const text = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : (argv[i + 1] ?? "");
  };
  const bad = (name: string, raw: string, what: string): never => {
    process.stderr.write(`${script}: --${name} takes ${what} (got "${raw}")\n`);
    process.exit(2);
  };
  const positive = (v: number, whole: boolean) =>
    Number.isFinite(v) && v > 0 && (!whole || Number.isInteger(v));
  return {
    argv,
    has: (name) => argv.includes(`--${name}`),
    text,
    number(name, dflt, whole = false) {
      const raw = text(name);
      if (raw === undefined) return dflt;
      const v = Number(raw);
      return positive(v, whole) ? v : bad(name, raw, whole ? "a positive whole number" : "a positive number");
    },
    numbers(name, dflt) {
      const raw = text(name);
      if (raw === undefined) return [...dflt];
      const vs = raw.split(",").map(Number);
      return vs.every((v) => positive(v, true))
        ? vs
        : bad(name, raw, "positive whole numbers, comma-separated");
    },
  };
}
