/**
 * Where HTTP/1.1 messages end (RFC 9112 section 6), as a stream carries them (spec/PROTOCOL.md,
 * "Stream contents"). The peer frames the request body it writes and the response it reads, to keep
 * connections to the local server alive, while the bytes pass through unchanged. The relay also
 * takes the body out of its framing (`sink`), to hand it to the public response.
 */

export class FramingError extends Error {
  override name = "FramingError";
}

/** Receives the body's own bytes, `buf[start, end)`, without its framing. */
export type BodySink = (buf: Buffer, start: number, end: number) => void;

/** Finds where one message body ends in a byte stream, chunk by chunk. */
export interface BodyScanner {
  /**
   * Consumes `buf` from `start`. Returns the index just past the body's end, or -1 when every byte
   * from `start` belongs to the body and it goes on. Throws FramingError on malformed framing.
   */
  scan(buf: Buffer, start: number, sink?: BodySink): number;
}

/** A body of `Content-Length` bytes (0 for none). */
export class LengthBody implements BodyScanner {
  constructor(private left: number) {}

  scan(buf: Buffer, start: number, sink?: BodySink): number {
    const avail = buf.length - start;
    if (this.left <= avail) {
      const end = start + this.left;
      this.left = 0;
      if (sink && end > start) sink(buf, start, end);
      return end;
    }
    this.left -= avail;
    if (sink && avail > 0) sink(buf, start, buf.length);
    return -1;
  }
}

/** A body that ends only when the connection closes. */
export class UntilClose implements BodyScanner {
  scan(buf: Buffer, start: number, sink?: BodySink): number {
    if (sink && start < buf.length) sink(buf, start, buf.length);
    return -1;
  }
}

enum Chunk {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  Trailer,
  TrailerLf,
}

/** Longest chunk-size line (with extensions) and trailer section accepted. */
const MAX_LINE = 4096;
const MAX_TRAILERS = 64 * 1024;
/** 2^53 has 14 hex digits; 13 keep every size an exact integer. */
const MAX_SIZE_DIGITS = 13;

/** `Transfer-Encoding: chunked`: chunk-size lines, data, last chunk, trailers, final CRLF. */
export class ChunkedBody implements BodyScanner {
  private state = Chunk.Size;
  private size = 0;
  private digits = 0;
  private left = 0;
  private line = 0;
  private trailerBytes = 0;
  /** The trailer section as text, when it is kept. */
  private trailerText: string | null;

  constructor(keepTrailers = false) {
    this.trailerText = keepTrailers ? "" : null;
  }

  /** The trailer fields as a raw list (name, value, ...); empty unless kept. */
  trailers(): string[] {
    return this.trailerText ? headerList(this.trailerText.split("\n").filter((l) => l !== "")) : [];
  }

  scan(buf: Buffer, start: number, sink?: BodySink): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case Chunk.Size: {
          const c = buf[i]!;
          const d = hexValue(c);
          if (d >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) throw new FramingError("chunk size too large");
            this.size = this.size * 16 + d;
          } else if (this.digits === 0) {
            throw new FramingError("chunk size expected");
          } else if (c === 0x0d) {
            this.state = Chunk.SizeLf;
          } else if (c === 0x3b || c === 0x20 || c === 0x09) {
            this.state = Chunk.Ext;
            this.line = 0;
          } else {
            throw new FramingError("bad character in chunk size");
          }
          i++;
          break;
        }
        case Chunk.Ext: {
          const c = buf[i++]!;
          if (c === 0x0d) this.state = Chunk.SizeLf;
          else if (c === 0x0a || ++this.line > MAX_LINE) throw new FramingError("bad chunk extension");
          break;
        }
        case Chunk.SizeLf:
          if (buf[i++] !== 0x0a) throw new FramingError("LF expected after chunk size");
          if (this.size === 0) {
            this.state = Chunk.Trailer;
            this.line = 0;
          } else {
            this.state = Chunk.Data;
            this.left = this.size;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case Chunk.Data: {
          const take = Math.min(this.left, n - i);
          if (sink) sink(buf, i, i + take);
          this.left -= take;
          i += take;
          if (this.left === 0) this.state = Chunk.DataCr;
          break;
        }
        case Chunk.DataCr:
          if (buf[i++] !== 0x0d) throw new FramingError("CRLF expected after chunk data");
          this.state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (buf[i++] !== 0x0a) throw new FramingError("CRLF expected after chunk data");
          this.state = Chunk.Size;
          break;
        case Chunk.Trailer: {
          // One trailer line, or the empty line that ends the message.
          const c = buf[i++]!;
          if (++this.trailerBytes > MAX_TRAILERS) throw new FramingError("trailers too large");
          if (c === 0x0d) this.state = Chunk.TrailerLf;
          else if (c === 0x0a) throw new FramingError("bare LF in trailers");
          else {
            this.line++;
            if (this.trailerText !== null) this.trailerText += String.fromCharCode(c);
          }
          break;
        }
        case Chunk.TrailerLf:
          if (buf[i++] !== 0x0a) throw new FramingError("bare CR in trailers");
          if (this.trailerText !== null) this.trailerText += "\n";
          if (this.line === 0) return i; // the empty line: the message is complete
          this.line = 0;
          this.state = Chunk.Trailer;
          break;
      }
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** What a response head says about the response (RFC 9112 6.3, in order). */
export interface ResponseHead {
  status: number;
  reason: string;
  /** The raw header list (name, value, ...), when asked for. */
  headers: string[] | undefined;
  /** The body scanner, or null for a response without a body. */
  body: BodyScanner | null;
  /** 1xx other than 101: another head follows. */
  interim: boolean;
  /** 101: the connection is no longer HTTP. */
  upgrade: boolean;
  /** The connection may carry another request after this response. */
  reusable: boolean;
  /** From `Keep-Alive: timeout=N`, in seconds; undefined when absent. */
  keepAliveTimeout: number | undefined;
}

const DIGITS = /^\d{1,15}$/;

/** ASCII lowercase of a byte; every other byte unchanged. */
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;

/** Whether `b[start, end)` is `lower` (ASCII lowercase bytes) in any ASCII case. */
export function nameIs(b: Uint8Array, start: number, end: number, lower: Uint8Array): boolean {
  // `length`, not `byteLength`: TurboFan reads the former inline and calls a builtin for the latter.
  const n = lower.length;
  if (end - start !== n) return false;
  for (let k = 0; k < n; k++) if (LOWER[b[start + k]!] !== lower[k]) return false;
  return true;
}

/** The same on latin1 text: whether `t[start, end)` is `lower` in any ASCII case. */
function textNameIs(t: string, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let k = 0; k < lower.length; k++)
    if (LOWER[t.charCodeAt(start + k)]! !== lower.charCodeAt(k)) return false;
  return true;
}

/** Optional whitespace around a field value (RFC 9110 5.6.3): SP or HTAB. */
export function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** A decimal digit's value, or -1. */
function digit(c: number): number {
  return c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
}

/**
 * Parses a complete response head (status line to the final CRLF CRLF, without the final CRLF CRLF,
 * as bytes or latin1 text) for a request with `method`. `keep` also returns the header list and
 * the reason; `trailers` (by default `keep`) keeps the trailers of a chunked body and refuses a head
 * with both framings, as a forwarder must. Lines are split on CRLF only. The head is read as one latin1
 * string: one native call, where a call per line and per field cost ten times as much (`toString`
 * and `indexOf` on a Buffer each cross into C++).
 */
export function parseResponseHead(
  input: string | Buffer,
  method: string,
  keep = false,
  trailers = keep,
): ResponseHead {
  const t = typeof input === "string" ? input : input.toString("latin1");
  const n = t.length;
  let lineEnd = t.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = n;
  // HTTP/1.<0|1> SP <[1-9]dd> [SP reason], the reason without CR or LF.
  const minor = digit(t.charCodeAt(7));
  const s0 = digit(t.charCodeAt(9));
  const s1 = digit(t.charCodeAt(10));
  const s2 = digit(t.charCodeAt(11));
  if (
    lineEnd < 12 ||
    !t.startsWith("HTTP/1.") ||
    minor < 0 ||
    minor > 1 ||
    t.charCodeAt(8) !== 0x20 ||
    s0 < 1 ||
    s1 < 0 ||
    s2 < 0 ||
    (lineEnd > 12 && t.charCodeAt(12) !== 0x20)
  )
    throw new FramingError("malformed status line");
  const status = s0 * 100 + s1 * 10 + s2;
  let reason = "";
  if (lineEnd > 13) {
    const cr = t.indexOf("\r", 13);
    const lf = t.indexOf("\n", 13);
    if ((cr !== -1 && cr < lineEnd) || (lf !== -1 && lf < lineEnd))
      throw new FramingError("malformed status line");
    if (keep) reason = t.slice(13, lineEnd);
  }
  let length: string | undefined;
  let chunked: boolean | undefined;
  let close = minor === 0;
  let keepAliveTimeout: number | undefined;
  const headers: string[] | undefined = keep ? [] : undefined;
  let pos = lineEnd + 2;
  while (pos <= n) {
    let end = t.indexOf("\r\n", pos);
    if (end === -1) end = n;
    const colon = t.indexOf(":", pos);
    if (colon <= pos || colon >= end) throw new FramingError("malformed header line");
    const start = pos;
    pos = end + 2;
    const field = colon - start;
    // Only four names matter here (10 to 17 characters); every other header passes unread.
    const wanted = field === 10 || field === 14 || field === 17;
    if (keep) headers!.push(t.slice(start, colon), t.slice(colon + 1, end).trim());
    if (!wanted) continue;
    // The value without optional whitespace (SP, HTAB) around it, as a range: the four names are
    // read in place, without slicing, splitting or case-folding the common values.
    let vs = colon + 1;
    let ve = end;
    while (vs < ve && isOws(t.charCodeAt(vs))) vs++;
    while (ve > vs && isOws(t.charCodeAt(ve - 1))) ve--;
    if (textNameIs(t, start, colon, "content-length")) {
      if (ve - vs < 1 || ve - vs > 15) throw new FramingError("bad Content-Length");
      for (let k = vs; k < ve; k++)
        if (digit(t.charCodeAt(k)) < 0) throw new FramingError("bad Content-Length");
      const value = t.slice(vs, ve);
      if (length !== undefined && length !== value) throw new FramingError("bad Content-Length");
      length = value;
    } else if (textNameIs(t, start, colon, "transfer-encoding")) {
      // The final coding decides (RFC 9112 6.3 rule 4); anything but chunked is read to the close.
      chunked =
        textNameIs(t, vs, ve, "chunked") ||
        t.slice(vs, ve).split(",").pop()!.trim().toLowerCase() === "chunked";
    } else if (textNameIs(t, start, colon, "connection")) {
      if (textNameIs(t, vs, ve, "keep-alive")) {
        if (minor === 0) close = false;
      } else if (textNameIs(t, vs, ve, "close")) close = true;
      else
        for (const token of t.slice(vs, ve).toLowerCase().split(",")) {
          const tk = token.trim();
          if (tk === "close") close = true;
          else if (tk === "keep-alive" && minor === 0) close = false;
        }
    } else if (textNameIs(t, start, colon, "keep-alive")) {
      const m = /(?:^|[\s,])timeout=(\d{1,6})/i.exec(t.slice(vs, ve));
      if (m) keepAliveTimeout = Number(m[1]);
    }
  }
  let body: BodyScanner | null;
  let reusable: boolean;
  if (status === 101) {
    body = null;
    reusable = false;
  } else if (status < 200 || status === 204 || status === 304 || method === "HEAD") {
    body = null;
    reusable = !close;
  } else if (trailers && chunked !== undefined && length !== undefined) {
    // Both Transfer-Encoding and Content-Length: the former wins, and the connection is not reused.
    // A forwarder would pass the Content-Length on with a body framed otherwise: refused outright.
    throw new FramingError("both Transfer-Encoding and Content-Length");
  } else if (chunked !== undefined) {
    body = chunked ? new ChunkedBody(trailers) : new UntilClose();
    reusable = chunked && !close && length === undefined;
  } else if (length !== undefined) {
    const bytes = Number(length);
    body = bytes === 0 ? null : new LengthBody(bytes);
    reusable = !close;
  } else {
    body = new UntilClose();
    reusable = false;
  }
  return {
    status,
    reason,
    headers,
    body,
    interim: status < 200 && status !== 101,
    upgrade: status === 101,
    reusable,
    keepAliveTimeout,
  };
}

/**
 * The body framing of a request the relay wrote: `Content-Length`, `Transfer-Encoding: chunked`, or
 * neither (no body). Anything else is refused, so no two parties can disagree on where it ends.
 */
export function requestBody(headers: string[]): BodyScanner {
  let length: string | undefined;
  let coding: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (name === "content-length") {
      const value = headers[i + 1]!;
      if (!DIGITS.test(value) || (length !== undefined && length !== value))
        throw new FramingError("bad Content-Length");
      length = value;
    } else if (name === "transfer-encoding") {
      if (coding !== undefined) throw new FramingError("repeated Transfer-Encoding");
      coding = headers[i + 1]!.toLowerCase();
    }
  }
  if (coding !== undefined) {
    if (coding !== "chunked" || length !== undefined) throw new FramingError("unsupported Transfer-Encoding");
    return new ChunkedBody();
  }
  return new LengthBody(length === undefined ? 0 : Number(length));
}

/** `name: value` lines as a raw list; the value without surrounding whitespace. */
function headerList(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new FramingError("malformed header line");
    out.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return out;
}

const EMPTY = Buffer.alloc(0);

/** The end of a head: CRLF CRLF. */
export const HEAD_END = Buffer.from("\r\n\r\n");

/** A field name (RFC 9110 5.1). */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The same set as TOKEN, per byte: 1 for a byte a field name may contain (tchar). */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

/**
 * Collects a head that may arrive in pieces and finds its end, looking at each byte once (a head
 * sent a byte at a time must not cost quadratic time).
 */
export class HeadCollector {
  private parts: Buffer[] = [];
  private length = 0;
  /** The last (up to) 3 bytes collected, where a CRLF CRLF may begin. */
  private tail: Buffer = EMPTY;

  constructor(private readonly max: number) {}

  /**
   * Looks for the end of the head in `chunk[i..]`. Returns the head's bytes (without the final
   * CRLF CRLF; a view of `chunk` when the head is all in it) and the index in `chunk` just past it,
   * or null when the head goes on. Throws FramingError once the head is longer than `max`.
   */
  take(chunk: Buffer, i: number): { head: Buffer; next: number } | null {
    let end = -1;
    if (this.length > 0) {
      // A CRLF CRLF that straddles the previous piece and this one.
      const at = Buffer.concat([this.tail, chunk.subarray(i, i + 3)]).indexOf(HEAD_END);
      if (at !== -1) end = i + at + 4 - this.tail.length;
    }
    if (end === -1) {
      const at = chunk.indexOf(HEAD_END, i);
      if (at !== -1) end = at + 4;
    }
    if (end === -1) {
      const piece = chunk.subarray(i);
      this.length += piece.length;
      if (this.length > this.max) throw new FramingError("head too large");
      // A copy: a view would keep the whole transport message alive for one byte of head.
      this.parts.push(Buffer.from(piece));
      this.tail = Buffer.concat([this.tail, piece.subarray(-3)]).subarray(-3);
      return null;
    }
    if (this.length + end - i > this.max) throw new FramingError("head too large");
    if (this.length === 0) return { head: chunk.subarray(i, end - 4), next: end };
    const head = Buffer.concat([...this.parts, chunk.subarray(i, end)]);
    this.parts = [];
    this.length = 0;
    this.tail = EMPTY;
    return { head: head.subarray(0, head.length - 4), next: end };
  }
}
