/**
 * The request head the peer reads from a stream, before it pipes the rest byte-for-byte. It only
 * splits lines and headers: the relay already parsed and re-serialized the request, so this is a
 * defensive reader, not a full HTTP parser. spec/PROTOCOL.md, "Stream contents".
 */

import { HEAD_END, TOKEN } from "../protocol/http1-framing.ts";

export class HeadError extends Error {
  override name = "HeadError";
  constructor(
    readonly code: "request_header_too_large" | "bad_request",
    message: string,
  ) {
    super(message);
  }
}

export interface RequestHead {
  /** e.g. `GET /path HTTP/1.1` */
  requestLine: string;
  /** Raw header list: name, value, name, value, ... */
  headers: string[];
}

const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\s]+ HTTP\/1\.[01]$/;
const CONTROL = /[\r\n\0]/;

/**
 * Finds the end of the head in `buf`. Returns the index just past CRLFCRLF, -1 if not complete
 * yet, and throws if the head is longer than `max`.
 */
export function findHeadEnd(buf: Buffer, max: number): number {
  const i = buf.indexOf(HEAD_END);
  if (i === -1) {
    if (buf.byteLength > max)
      throw new HeadError("request_header_too_large", `request head exceeds ${max} bytes`);
    return -1;
  }
  if (i + 4 > max) throw new HeadError("request_header_too_large", `request head exceeds ${max} bytes`);
  return i + 4;
}

/** Parses a complete head (including the final CRLFCRLF). */
export function parseHead(head: Buffer): RequestHead {
  const text = head.toString("latin1");
  const lines = text.slice(0, -4).split("\r\n");
  const requestLine = lines[0] ?? "";
  if (!REQUEST_LINE.test(requestLine)) throw new HeadError("bad_request", "malformed request line");
  const headers: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HeadError("bad_request", "malformed header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HeadError("bad_request", "malformed header name");
    const value = line.slice(colon + 1).trim();
    if (CONTROL.test(value)) throw new HeadError("bad_request", "control character in header value");
    headers.push(name, value);
  }
  return { requestLine, headers };
}

/**
 * Drops every header whose lowercase name is in `drop`, then appends `add` (name, value pairs).
 * Added names must be tokens and added values free of CR, LF and NUL, so no line can be injected.
 */
export function rewriteHead(head: RequestHead, drop: ReadonlySet<string>, add: string[]): Buffer {
  let out = `${head.requestLine}\r\n`;
  for (let i = 0; i < head.headers.length; i += 2) {
    if (drop.has(head.headers[i]!.toLowerCase())) continue;
    out += `${head.headers[i]}: ${head.headers[i + 1]}\r\n`;
  }
  for (let i = 0; i < add.length; i += 2) {
    const name = add[i]!;
    const value = add[i + 1] ?? "";
    if (!TOKEN.test(name) || CONTROL.test(value))
      throw new HeadError("bad_request", "an added header would break the head");
    out += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${out}\r\n`, "latin1");
}
