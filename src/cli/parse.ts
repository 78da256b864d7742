/** Parsers for CLI option values; each throws a CliError naming the option. */
import { CliError } from "./errors.ts";

export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value) ?? /^(\d{1,5})$/.exec(value);
  if (!m) throw new CliError(`--listen: expected host:port, got "${value}"`);
  const host = m.length === 2 ? "127.0.0.1" : (m[1] ?? m[2])!;
  const port = Number(m.length === 2 ? m[1] : m[3]);
  if (port > 65535) throw new CliError(`--listen: port ${port} is out of range`);
  return { host, port };
}

export function parseHttpUrl(value: string, option: string): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CliError(`${option}: "${value}" is not a URL (example: http://127.0.0.1:3000)`);
  }
  if (u.protocol !== "http:") throw new CliError(`${option}: must be an http:// URL, got "${value}"`);
  return u;
}

export function parseRelayUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new CliError(`--relay: "${value}" is not a URL (example: ws://127.0.0.1:8080)`);
  }
  if (!["ws:", "wss:", "http:", "https:"].includes(u.protocol))
    throw new CliError(`--relay: must be ws://, wss://, http:// or https://, got "${value}"`);
  return u.href;
}

export function parseInteger(value: string, option: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new CliError(`${option}: expected an integer >= ${min}, got "${value}"`);
  return n;
}
