/** Loggers for the CLI: pretty lines on a terminal, JSON lines otherwise (always to stderr). */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export function createLogger(level: string, role: string): Logger {
  if (process.stderr.isTTY) {
    return pino(
      { level, base: { role } },
      pretty({ destination: 2, colorize: true, ignore: "pid,hostname,role" }),
    );
  }
  return pino({ level, base: { role } }, pino.destination(2));
}
