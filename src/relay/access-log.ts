/** One structured line per public request (pino, JSON): never bodies, queries or credentials. */
import type { Logger } from "pino";
import type { Exchange } from "./exchange.ts";

export function logExchange(log: Logger, ex: Exchange): void {
  log.info(
    {
      rid: ex.id,
      agent: ex.agent,
      method: ex.method,
      path: ex.path,
      proto: ex.protocol,
      status: ex.status,
      in: ex.bytesIn,
      out: ex.bytesOut,
      ms: Math.round(ex.seconds * 1000),
      ip: ex.ip,
      ...(ex.error ? { error: ex.error } : {}),
    },
    "request",
  );
}
