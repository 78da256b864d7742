/**
 * Loggers for the CLI: pretty lines on a terminal, JSON lines otherwise (always to stderr).
 * pino and pino-pretty are CommonJS: `require` loads them without the ES-module wrapper (which
 * would parse their source for export names), and pino-pretty only when there is a terminal.
 */
import { createRequire } from "node:module";
import type { Logger } from "pino";

const require = createRequire(import.meta.url);

export function createLogger(level: string, role: string): Logger {
  const pino = require("pino") as typeof import("pino");
  if (process.stderr.isTTY) {
    const pretty = require("pino-pretty") as typeof import("pino-pretty");
    return pino(
      { level, base: { role } },
      pretty({ destination: 2, colorize: true, ignore: "pid,hostname,role" }),
    );
  }
  return pino({ level, base: { role } }, pino.destination(2));
}
