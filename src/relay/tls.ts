/** The TLS certificate and key files: read, checked that they go together, and re-read on SIGHUP. */
import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import { ConfigError } from "./config.ts";

export function readTlsPair(certPath: string, keyPath: string): SecureContextOptions {
  const read = (path: string, setting: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(setting, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  };
  const pair = { cert: read(certPath, "tls-cert"), key: read(keyPath, "tls-key") };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new ConfigError(
      "tls-cert",
      `${certPath} and ${keyPath} do not load as a pair: ${(err as Error).message}`,
    );
  }
  return pair;
}
