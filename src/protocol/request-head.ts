/**
 * An HTTP/1.1 request head read from bytes: the peer reads each stream's head with it before it
 * pipes the rest byte-for-byte, and the relay's fast lane (src/relay/h1-lane.ts) reads public heads
 * with it. It only splits lines and headers and refuses what could split a line; it is not a full
 * HTTP parser. The peer's input was already parsed and re-serialized by the relay; the lane leaves
 * every head this reader (or the lane's own stricter checks) refuses to Node's parser.
 * spec/PROTOCOL.md, "Stream contents".
 *
 * One pass over the bytes: a header is four offsets into the head, not strings, and the rewrite
 * copies the kept lines as they came. Strings are made only for what is asked for by name.
 */

import { HEAD_END, nameIs, TCHAR, TOKEN } from "./http1-framing.ts";

export class HeadError extends Error {
  override name = "HeadError";
  constructor(
    readonly code: "request_header_too_large" | "bad_request",
    message: string,
  ) {
    super(message);
  }
}

const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\s]+ HTTP\/1\.[01]$/;
const CONTROL = /[\r\n\0]/;
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;

/** Fields per header in `RequestHead.offsets`. */
const F = 5;

export class RequestHead {
  /** e.g. `GET /path HTTP/1.1` */
  readonly requestLine: string;
  /** The whole head, request line to the final CRLF CRLF. */
  readonly buf: Buffer;
  /**
   * Per header, F numbers: line start, colon, value start, value end (optional whitespace
   * trimmed), line end (where its CRLF starts).
   */
  readonly offsets: number[];
  /** Where the request line's CRLF starts. */
  readonly lineEnd: number;
  private list: string[] | undefined;

  constructor(requestLine: string, buf: Buffer, lineEnd: number, offsets: number[]) {
    this.requestLine = requestLine;
    this.buf = buf;
    this.lineEnd = lineEnd;
    this.offsets = offsets;
  }

  /** Raw header list: name, value, name, value, ... (made on first use). */
  get headers(): string[] {
    if (this.list) return this.list;
    const out: string[] = [];
    const o = this.offsets;
    for (let i = 0; i < o.length; i += F)
      out.push(
        this.buf.toString("latin1", o[i]!, o[i + 1]!),
        this.buf.toString("latin1", o[i + 2]!, o[i + 3]!),
      );
    this.list = out;
    return out;
  }

  /** Whether header `i` (counting from 0) is named `lower` (ASCII lowercase bytes), in any case. */
  nameIs(i: number, lower: Uint8Array): boolean {
    return nameIs(this.buf, this.offsets[i * F]!, this.offsets[i * F + 1]!, lower);
  }

  get count(): number {
    return this.offsets.length / F;
  }

  /** The value of header `i`, trimmed. */
  value(i: number): string {
    return this.buf.toString("latin1", this.offsets[i * F + 2]!, this.offsets[i * F + 3]!);
  }

  /** Every header with one of `names` (any case), as a raw list in the order they came. */
  fields(...names: string[]): string[] {
    const lower = names.map(nameBytes);
    const out: string[] = [];
    for (let i = 0; i < this.count; i++)
      for (let n = 0; n < lower.length; n++)
        if (this.nameIs(i, lower[n]!)) {
          out.push(names[n]!, this.value(i));
          break;
        }
    return out;
  }

  /** Whether any header is named `name` (any case). */
  has(name: string): boolean {
    const lower = nameBytes(name);
    for (let i = 0; i < this.count; i++) if (this.nameIs(i, lower)) return true;
    return false;
  }
}

const names = new Map<string, Buffer>();
/** A header name as lowercase latin1 bytes, made once per name. */
function nameBytes(name: string): Buffer {
  let b = names.get(name);
  if (!b) {
    b = Buffer.from(name.toLowerCase(), "latin1");
    if (names.size < 64) names.set(name, b);
  }
  return b;
}

/**
 * Finds the end of the head in `buf`. Returns the index just past CRLFCRLF, -1 if not complete
 * yet, and throws if the head is longer than `max`.
 */
export function findHeadEnd(buf: Buffer, max: number): number {
  const i = buf.indexOf(HEAD_END);
  if (i === -1) {
    if (buf.length > max)
      throw new HeadError("request_header_too_large", `request head exceeds ${max} bytes`);
    return -1;
  }
  if (i + 4 > max) throw new HeadError("request_header_too_large", `request head exceeds ${max} bytes`);
  return i + 4;
}

const bad = (message: string) => new HeadError("bad_request", message);

/** Parses a complete head (including the final CRLFCRLF). */
export function parseHead(head: Buffer): RequestHead {
  const lineEnd = head.indexOf(HEAD_END.subarray(0, 2));
  const requestLine = head.toString("latin1", 0, lineEnd);
  if (!REQUEST_LINE.test(requestLine)) throw bad("malformed request line");
  const offsets: number[] = [];
  // The final CRLF: the empty line that ends the head.
  const last = head.length - 2;
  let pos = lineEnd + 2;
  while (pos < last) {
    const start = pos;
    let i = pos;
    let c = head[i]!;
    while (c !== COLON) {
      if (TCHAR[c] === 0) throw bad(c === CR || c === LF ? "malformed header line" : "malformed header name");
      c = head[++i]!;
    }
    if (i === start) throw bad("malformed header line");
    const colon = i;
    // The value runs to the CRLF; a bare CR, a bare LF or a NUL could start a line of its own.
    c = head[++i]!;
    while (c !== CR) {
      if (c === LF || c === 0) throw bad("control character in header value");
      c = head[++i]!;
    }
    if (head[i + 1] !== LF) throw bad("control character in header value");
    const end = i;
    let vs = colon + 1;
    while (vs < end && (head[vs] === 0x20 || head[vs] === 0x09)) vs++;
    let ve = end;
    while (ve > vs && (head[ve - 1] === 0x20 || head[ve - 1] === 0x09)) ve--;
    offsets.push(start, colon, vs, ve, end);
    pos = end + 2;
  }
  return new RequestHead(requestLine, head, lineEnd, offsets);
}

/**
 * Drops every header whose lowercase name is in `drop` and appends `add` (name, value pairs); kept
 * lines are copied as they are. Added names must be tokens and added values free of CR, LF and NUL,
 * so no line can be injected: checked once, when the rewriter is made.
 */
export class HeadRewriter {
  private readonly drop: Buffer[];
  private readonly tail: Buffer;

  constructor(drop: ReadonlySet<string>, add: string[]) {
    this.drop = [...drop].map(nameBytes);
    let text = "";
    for (let i = 0; i < add.length; i += 2) {
      const name = add[i]!;
      const value = add[i + 1] ?? "";
      if (!TOKEN.test(name) || CONTROL.test(value))
        throw new HeadError("bad_request", "an added header would break the head");
      text += `${name}: ${value}\r\n`;
    }
    this.tail = Buffer.from(`${text}\r\n`, "latin1");
  }

  /**
   * The head rewritten. `tail`, when given, stands in for the added lines and the empty line that
   * ends the head (the caller vouches for its lines).
   */
  apply(head: RequestHead, tail?: string): Buffer {
    const src = head.buf;
    const o = head.offsets;
    const n = head.count;
    // Runs of kept lines [from, to), each with its CRLF; the request line starts the first run.
    const runs: number[] = [0];
    let size = 0;
    let open = true;
    let at = head.lineEnd + 2;
    for (let i = 0; i < n; i++) {
      const lineStart = o[i * F]!;
      const next = o[i * F + 4]! + 2;
      if (this.dropped(head, i)) {
        if (open) {
          runs.push(lineStart);
          size += lineStart - runs[runs.length - 2]!;
          open = false;
        }
      } else if (!open) {
        runs.push(lineStart);
        open = true;
      }
      at = next;
    }
    if (open) {
      runs.push(at);
      size += at - runs[runs.length - 2]!;
    }
    const extra = tail === undefined ? this.tail.length : tail.length;
    const out = Buffer.allocUnsafe(size + extra);
    let w = 0;
    for (let r = 0; r < runs.length; r += 2) w += src.copy(out, w, runs[r]!, runs[r + 1]!);
    if (tail === undefined) this.tail.copy(out, w);
    else out.write(tail, w, "latin1");
    return out;
  }

  private dropped(head: RequestHead, i: number): boolean {
    for (const name of this.drop) if (head.nameIs(i, name)) return true;
    return false;
  }
}

/** `new HeadRewriter(drop, add).apply(head)`, for a single use. */
export function rewriteHead(head: RequestHead, drop: ReadonlySet<string>, add: string[]): Buffer {
  return new HeadRewriter(drop, add).apply(head);
}
