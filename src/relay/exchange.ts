/**
 * One public request (or upgrade) as the relay sees it, from its head to its end: what its access
 * log line and its request metrics are made of.
 */
import { randomUUID } from "node:crypto";
import type { HttpErrorCode } from "../protocol/errors.ts";

export class Exchange {
  readonly id = randomUUID();
  readonly started = performance.now();
  /** The agent's 40-hex address, when the request was for one. */
  agent: string | undefined;
  /** Status the client got; 499 when it left before the answer ended. */
  status = 0;
  /** Body bytes from the client and to the client. */
  bytesIn = 0;
  bytesOut = 0;
  /** Set when the relay itself answered or cut the exchange with an error. */
  error: HttpErrorCode | undefined;
  /** Index among the relay's in-flight exchanges (src/util/slots.ts), or -1. */
  slot = -1;

  constructor(
    readonly method: string,
    /** The path without its query. */
    readonly path: string,
    readonly ip: string,
    readonly protocol: string,
  ) {}

  get seconds(): number {
    return (performance.now() - this.started) / 1000;
  }
}

/** The path of a request target without its query string. */
export function pathOf(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q === -1 ? u : u.slice(0, q);
}
