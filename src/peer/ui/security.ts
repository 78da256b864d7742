/**
 * The management page's own defences, as pure functions over request headers:
 *   - a random token (in a 0600 file, then an HttpOnly SameSite=Strict cookie), compared in constant time;
 *   - Host must be 127.0.0.1:<port> or localhost:<port>, so a DNS-rebound name never reaches the page;
 *   - fetch metadata: only the page itself (or a plain navigation) may read or call it;
 *   - state changes need the CSRF token and an Origin equal to the page's own.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** Constant-time equality; hashing first makes the time independent of both lengths. */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined || expected === "") return false;
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The only Host values the page answers to. */
export function allowedHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

export function hostAllowed(host: string | undefined, port: number): boolean {
  return host !== undefined && allowedHosts(port).includes(host.toLowerCase());
}

/** Cookies are not isolated by port, so the name carries it: two peers never overwrite each other. */
export function cookieName(port: number): string {
  return `agent_relay_ui_${port}`;
}

export function sessionCookie(port: number, token: string): string {
  return `${cookieName(port)}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export type AuthResult = "cookie" | "bearer" | undefined;

/** Signed in by the cookie (a browser) or `Authorization: Bearer <token>` (the CLI). */
export function authenticate(headers: IncomingHttpHeaders, port: number, token: string): AuthResult {
  const auth = headers.authorization;
  if (auth?.startsWith("Bearer ")) return sameSecret(auth.slice(7), token) ? "bearer" : undefined;
  return sameSecret(readCookie(headers.cookie, cookieName(port)), token) ? "cookie" : undefined;
}

/**
 * Fetch metadata (Sec-Fetch-*): a browser says where a request comes from. Allowed: the page's own
 * requests, a typed or opened URL, and top-level GET navigations. Refused: anything another origin
 * makes the browser send, including a page on another 127.0.0.1 port, which counts as the same site.
 * Clients that send no metadata (curl, the CLI) pass this check and still need the token.
 */
export function fetchMetadataAllowed(method: string, headers: IncomingHttpHeaders): boolean {
  const site = headers["sec-fetch-site"];
  if (site === undefined || site === "same-origin" || site === "none") return true;
  return (
    method === "GET" && headers["sec-fetch-mode"] === "navigate" && headers["sec-fetch-dest"] === "document"
  );
}

/**
 * A state-changing request made with the cookie must carry the CSRF token and come from the page's
 * own origin: Origin equal to http://<Host>, or, without Origin, Sec-Fetch-Site same-origin.
 */
export function csrfAllowed(
  headers: IncomingHttpHeaders,
  csrfToken: string,
): "ok" | "bad_origin" | "bad_csrf_token" {
  const origin = headers.origin;
  if (origin !== undefined) {
    if (origin !== `http://${(headers.host ?? "").toLowerCase()}`) return "bad_origin";
  } else if (headers["sec-fetch-site"] !== "same-origin") return "bad_origin";
  const given = headers["x-csrf-token"];
  return sameSecret(typeof given === "string" ? given : undefined, csrfToken) ? "ok" : "bad_csrf_token";
}

/** Sent with every response: nothing runs but our own files, nothing is framed, cached or leaked. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};
