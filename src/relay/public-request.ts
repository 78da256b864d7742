/** Facts about a public request that do not depend on whether it came over HTTP/1.1 or HTTP/2. */
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { BlockList } from "node:net";
import { clientIp, inList, plainIp } from "./client-ip.ts";
import { hostHeader } from "./host.ts";

export type AnyRequest = IncomingMessage | Http2ServerRequest;

/**
 * The Host: `:authority` on HTTP/2 (or a Host header, which RFC 9113 allows instead), null when
 * both are there and differ (RFC 9113 8.3.1: malformed; the relay would route by one and forward
 * the other); on HTTP/1.1 null when there are several Host headers (RFC 9112 3.2: 400), which Node
 * would quietly reduce to one.
 */
export function hostOf(req: AnyRequest): string | undefined | null {
  if (req.httpVersionMajor === 2) {
    const authority = req.headers[":authority"] as string | undefined;
    const host = req.headers.host;
    if (authority !== undefined && host !== undefined && authority.toLowerCase() !== host.toLowerCase())
      return null;
    return authority ?? host;
  }
  return hostHeader(req.rawHeaders);
}

export function clientOf(req: AnyRequest, trusted: BlockList | null): string {
  return clientIp(req.socket?.remoteAddress, req.headers["x-forwarded-for"], trusted);
}

/** `https` on a TLS port; behind a trusted proxy, what its X-Forwarded-Proto says. */
export function protoOf(req: AnyRequest, tls: boolean, trusted: BlockList | null): "http" | "https" {
  return protoFrom(req.headers["x-forwarded-proto"], req.socket?.remoteAddress, tls, trusted);
}

/** The same from the X-Forwarded-Proto value and the socket's peer address. */
export function protoFrom(
  said: string | string[] | undefined,
  remote: string | undefined,
  tls: boolean,
  trusted: BlockList | null,
): "http" | "https" {
  if (tls) return "https";
  if (trusted !== null && typeof said === "string" && inList(trusted, plainIp(remote ?? ""))) {
    const last = said.split(",").pop()!.trim().toLowerCase();
    if (last === "https" || last === "http") return last;
  }
  return "http";
}

/**
 * The HTTP/2 header list size (RFC 9113 6.5.2: name + value + 32 per field). HTTP/1.1 heads are
 * measured by Node's parser itself (`maxHeaderSize`).
 */
export function h2HeadSize(req: AnyRequest): number {
  if (req.httpVersionMajor !== 2) return 0;
  let n = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 32;
  return n;
}

export const protocolOf = (req: AnyRequest): string =>
  req.httpVersionMajor === 2 ? "h2" : `http/${req.httpVersion}`;
