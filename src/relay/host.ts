/**
 * Routing by Host header: `<40-hex address>.<domain>` is an agent, the bare domain (or any other
 * host, such as the relay's IP) is the relay itself. spec/PROTOCOL.md, "Public addressing".
 */

export type HostRoute =
  | { kind: "agent" /** 40 lowercase hex digits, no 0x. */; address: string }
  | { kind: "relay" }
  | { kind: "invalid" };

const ADDRESS_LABEL = /^[0-9a-f]{40}$/;

/** Strips a port (and IPv6 brackets), lowercases, and drops one trailing dot. */
export function hostName(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    h = end === -1 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(":");
    if (colon !== -1) h = h.slice(0, colon);
  }
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/**
 * The request's one Host value from its raw header list: undefined if there is none, null if there
 * is more than one (RFC 9112 3.2: answer 400). Node itself keeps only the first in `req.headers`.
 */
export function hostHeader(rawHeaders: readonly string[]): string | undefined | null {
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length !== 4 || name.toLowerCase() !== "host") continue;
    if (host !== undefined) return null;
    host = rawHeaders[i + 1] ?? "";
  }
  return host;
}

/** Anything but printable ASCII: host names are ASCII (IDNs travel as punycode). */
const NOT_ASCII = /[^\x20-\x7e]/;

export function routeHost(host: string | undefined, domain: string): HostRoute {
  if (host === undefined || host === "") return { kind: "relay" };
  // Lowercasing non-ASCII could turn a lookalike into our domain (U+212A KELVIN SIGN → "k").
  if (NOT_ASCII.test(host)) return { kind: "invalid" };
  const name = hostName(host);
  const d = domain.toLowerCase();
  if (name === d) return { kind: "relay" };
  if (!name.endsWith(`.${d}`)) return { kind: "relay" };
  const label = name.slice(0, name.length - d.length - 1);
  return ADDRESS_LABEL.test(label) ? { kind: "agent", address: label } : { kind: "invalid" };
}
