/**
 * The reachability check: a request that goes out to the agent's public URL, through the relay's
 * public side and back down this very tunnel. Only the peer knows the token, so a 204 carrying it
 * proves the whole path works (spec/PROTOCOL.md, "Reachability probe").
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export const PROBE_PATH = "/.well-known/agent-relay/probe";
export const PROBE_HEADER = "x-agent-relay-probe";

export function newProbeToken(): string {
  return randomBytes(16).toString("hex");
}

/** True if `value` is the token, compared in constant time. */
export function isProbeToken(value: string | undefined, token: string): boolean {
  if (value === undefined || value.length !== token.length) return false;
  return timingSafeEqual(Buffer.from(value), Buffer.from(token));
}

type LookupCb = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** RFC 6761: names under .localhost are loopback, whatever the system resolver says. */
function lookup(hostname: string, options: object, cb: LookupCb): void {
  if (hostname === "localhost" || hostname.endsWith(".localhost")) {
    if ((options as { all?: boolean }).all) return cb(null, [{ address: "127.0.0.1", family: 4 }]);
    return cb(null, "127.0.0.1", 4);
  }
  dnsLookup(
    hostname,
    options as { all: true },
    cb as (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void,
  );
}

/** Sends the probe to `publicUrl`; resolves if our own forwarder answered it, rejects otherwise. */
export function probePublicUrl(publicUrl: string, token: string, timeoutMs = 10_000): Promise<void> {
  const url = new URL(PROBE_PATH, publicUrl);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      { method: "GET", headers: { [PROBE_HEADER]: token }, lookup, agent: false, timeout: timeoutMs },
      (res) => {
        res.resume();
        const echoed = res.headers[PROBE_HEADER];
        if (res.statusCode === 204 && typeof echoed === "string" && isProbeToken(echoed, token)) resolve();
        else {
          const code = res.headers["x-agent-relay-error"];
          reject(
            new Error(`public URL answered ${res.statusCode}${code ? ` ${code}` : ""}, not this tunnel`),
          );
        }
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer from the public URL within ${timeoutMs} ms`)));
    req.on("error", (err) => reject(new Error(`public URL unreachable: ${err.message}`)));
    req.end();
  });
}
