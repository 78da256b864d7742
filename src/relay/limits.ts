/**
 * Abuse controls that count: tunnel connects per client IP (token bucket), unauthenticated tunnel
 * sockets per client IP, and public requests per agent (token bucket). Client addresses in
 * `--rate-limit-exempt` skip all three.
 */
import type { BlockList } from "node:net";
import { inList, limitKey } from "./client-ip.ts";
import { addressList, type RelayConfig } from "./config.ts";
import { KeyedTokenBuckets } from "./token-bucket.ts";

export type TunnelAdmission =
  | { ok: true /** Call once the socket authenticated or closed. */; release: () => void }
  | { ok: false; code: "connect_rate_limited"; retryAfterS: number }
  | { ok: false; code: "too_many_pending" };

const MINUTE = 60_000;
const noop = () => {};

export class Limits {
  private readonly exempt: BlockList | null;
  /** Exemption by IP, remembered: BlockList.check allocates, and it would run on every request. */
  private readonly exemptSeen = new Map<string, boolean>();
  private readonly connects: KeyedTokenBuckets | null;
  private readonly requests: KeyedTokenBuckets | null;
  private readonly pending = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly config: RelayConfig) {
    this.exempt =
      config.rateLimitExempt.length > 0 ? addressList(config.rateLimitExempt, "rate-limit-exempt") : null;
    this.connects =
      config.connectRatePerMin > 0 ? new KeyedTokenBuckets(config.connectRatePerMin, MINUTE) : null;
    this.requests =
      config.requestRatePerMin > 0 ? new KeyedTokenBuckets(config.requestRatePerMin, MINUTE) : null;
    this.sweeper = setInterval(() => {
      this.connects?.sweep();
      this.requests?.sweep();
    }, MINUTE);
    this.sweeper.unref();
  }

  /** A tunnel connect from `ip`, before the WebSocket upgrade. */
  admitTunnel(ip: string): TunnelAdmission {
    if (this.isExempt(ip)) return { ok: true, release: noop };
    const key = limitKey(ip);
    const waitMs = this.connects?.take(key) ?? 0;
    if (waitMs > 0) return { ok: false, code: "connect_rate_limited", retryAfterS: Math.ceil(waitMs / 1000) };
    const n = this.pending.get(key) ?? 0;
    if (n >= this.config.maxPendingPerIp) return { ok: false, code: "too_many_pending" };
    this.pending.set(key, n + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.pending.get(key) ?? 1) - 1;
        if (left <= 0) this.pending.delete(key);
        else this.pending.set(key, left);
      },
    };
  }

  /** A public request for `agent` from `ip`: 0 if admitted, else seconds until it would be. */
  admitRequest(agent: string, ip: string): number {
    if (this.requests === null || this.isExempt(ip)) return 0;
    const waitMs = this.requests.take(agent);
    return waitMs > 0 ? Math.ceil(waitMs / 1000) : 0;
  }

  private isExempt(ip: string): boolean {
    if (this.exempt === null) return false;
    let exempt = this.exemptSeen.get(ip);
    if (exempt === undefined) {
      if (this.exemptSeen.size >= 4096) this.exemptSeen.clear();
      exempt = inList(this.exempt, ip);
      this.exemptSeen.set(ip, exempt);
    }
    return exempt;
  }

  /** Unauthenticated tunnel sockets currently counted, across all IPs. */
  pendingCount(): number {
    let n = 0;
    for (const v of this.pending.values()) n += v;
    return n;
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
