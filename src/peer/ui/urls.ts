/**
 * An agent's public URL as the page shows it. Exact once any agent of this peer has connected
 * (the relay told us its base: `<scheme>://<40-hex>.<base host>`); before that, the URL the relay
 * setting suggests, marked as expected.
 */

export interface ShownUrl {
  url: string;
  /** False while the URL is inferred from the relay setting rather than told by the relay. */
  exact: boolean;
}

const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

export class PublicUrls {
  private relay: string | undefined;
  private base: { protocol: string; host: string } | undefined;

  /** Learns the relay's base from a URL it sent for a connected agent. */
  learn(relay: string | undefined, url: string): void {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return;
    }
    const dot = u.host.indexOf(".");
    if (dot === -1) return;
    this.relay = relay;
    this.base = { protocol: u.protocol, host: u.host.slice(dot + 1) };
  }

  /** `address` is the checksummed 0x address. */
  urlFor(relay: string | undefined, address: string): ShownUrl | undefined {
    const label = address.replace(/^0x/, "").toLowerCase();
    if (this.base && this.relay === relay) {
      return { url: `${this.base.protocol}//${label}.${this.base.host}`, exact: true };
    }
    return guessUrl(relay, label);
  }
}

/** A relay dialed on a loopback address serves agents under `localhost` (the relay's default domain). */
export function guessUrl(relay: string | undefined, label: string): ShownUrl | undefined {
  if (!relay) return undefined;
  let u: URL;
  try {
    u = new URL(relay);
  } catch {
    return undefined;
  }
  const scheme = u.protocol === "wss:" || u.protocol === "https:" ? "https:" : "http:";
  const host = LOOPBACK.has(u.hostname) ? `localhost${u.port ? `:${u.port}` : ""}` : u.host;
  return { url: `${scheme}//${label}.${host}`, exact: false };
}
