/** One-line, actionable CLI failures. */
export class CliError extends Error {
  override name = "CliError";
}

export function fail(message: string): never {
  throw new CliError(message);
}
