/**
 * Who the client is: the socket's peer address, or, when that peer is a proxy named by
 * `--trust-proxy`, the address that proxy put in X-Forwarded-For.
 */
import { type BlockList, isIP } from "node:net";

/** `::ffff:1.2.3.4` → `1.2.3.4`; everything else unchanged. */
export function plainIp(ip: string): string {
  return ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function inList(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? "ipv6" : "ipv4");
}

/**
 * The client's IP. With a trusted direct peer, X-Forwarded-For is read right to left, skipping
 * trusted proxies: the first address no trusted proxy owns is the client.
 */
export function clientIp(
  remote: string | undefined,
  xff: string | string[] | undefined,
  trusted: BlockList | null,
): string {
  let ip = plainIp(remote ?? "");
  if (trusted === null || xff === undefined || !inList(trusted, ip)) return ip;
  const hops = (Array.isArray(xff) ? xff.join(",") : xff).split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = plainIp(hops[i]!.trim());
    if (isIP(hop) === 0) break;
    ip = hop;
    if (!inList(trusted, hop)) break;
  }
  return ip;
}

/** The key per-IP limits count under: the address itself, or its /64 for IPv6 (one subscriber). */
export function limitKey(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const [head = "", tail = ""] = ip.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = ip.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}
