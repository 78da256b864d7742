/**
 * Where HTTP/1.1 messages end: the scanners the peer's keep-alive connections rely on. Each case
 * is also fed byte by byte and split at random points, since the socket may cut anywhere.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BodyScanner,
  ChunkedBody,
  FramingError,
  HeadCollector,
  LengthBody,
  parseResponseHead,
  requestBody,
} from "../../src/protocol/http1-framing.ts";

/** Feeds `bytes` in the given pieces; returns the end offset in `bytes`, or -1. */
function endIn(scanner: BodyScanner, bytes: Buffer, cuts: number[]): number {
  const points = [...new Set([0, ...cuts.map((c) => c % (bytes.byteLength + 1)), bytes.byteLength])].sort(
    (a, b) => a - b,
  );
  for (let i = 0; i + 1 < points.length; i++) {
    const piece = bytes.subarray(points[i], points[i + 1]);
    const end = scanner.scan(piece, 0);
    if (end !== -1) return points[i]! + end;
  }
  return -1;
}

const byteByByte = (b: Buffer) => Array.from({ length: b.byteLength }, (_, i) => i);

/** Chunked encoding of `parts`, with optional extensions and trailers. */
function chunked(parts: Buffer[], ext = "", trailers = ""): Buffer {
  const out: Buffer[] = [];
  for (const p of parts)
    out.push(Buffer.from(`${p.byteLength.toString(16)}${ext}\r\n`), p, Buffer.from("\r\n"));
  out.push(Buffer.from(`0${ext}\r\n${trailers}\r\n`));
  return Buffer.concat(out);
}

describe("LengthBody", () => {
  it("ends after exactly N bytes, however they are cut", () => {
    const body = Buffer.alloc(100, 1);
    const after = Buffer.concat([body, Buffer.from("NEXT")]);
    expect(endIn(new LengthBody(100), after, [])).toBe(100);
    expect(endIn(new LengthBody(100), after, byteByByte(after))).toBe(100);
    expect(endIn(new LengthBody(100), body.subarray(0, 99), [])).toBe(-1);
    expect(new LengthBody(0).scan(Buffer.alloc(0), 0)).toBe(0);
  });
});

describe("ChunkedBody", () => {
  it("finds the end of chunked bodies with extensions and trailers, cut anywhere", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 6 }),
        fc.constantFrom("", ";a=b", ';name="quoted ; value"', " ;x"),
        fc.constantFrom("", "Digest: x\r\n", "A: 1\r\nB: 2\r\n"),
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, ext, trailers, cuts) => {
          const body = chunked(
            parts.map((p) => Buffer.from(p)),
            ext,
            trailers,
          );
          const withNext = Buffer.concat([body, Buffer.from("HTTP/1.1 200 OK\r\n")]);
          expect(endIn(new ChunkedBody(), withNext, cuts)).toBe(body.byteLength);
          expect(endIn(new ChunkedBody(), body.subarray(0, body.byteLength - 1), cuts)).toBe(-1);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("reads upper- and lower-case hex sizes", () => {
    const body = Buffer.concat([
      Buffer.from("1A\r\n"),
      Buffer.alloc(26),
      Buffer.from("\r\n1a\r\n"),
      Buffer.alloc(26),
      Buffer.from("\r\n0\r\n\r\n"),
    ]);
    expect(endIn(new ChunkedBody(), body, byteByByte(body))).toBe(body.byteLength);
  });

  it.each([
    ["no size", "\r\n"],
    ["a bad size character", "1x\r\n"],
    ["a bare LF after the size", "1\n"],
    ["data longer than its size", "1\r\nab\r\n"],
    ["a size over 13 hex digits", "10000000000000\r\n"],
    ["a bare LF in the trailers", "0\r\nA: 1\n\r\n"],
  ])("refuses %s", (_what, text) => {
    const bytes = Buffer.from(text);
    expect(() => endIn(new ChunkedBody(), bytes, [])).toThrow(FramingError);
    expect(() => endIn(new ChunkedBody(), bytes, byteByByte(bytes))).toThrow(FramingError);
  });
});

describe("parseResponseHead", () => {
  const head = (lines: string[], method = "GET") => parseResponseHead(lines.join("\r\n"), method);

  it("frames by Content-Length and keeps HTTP/1.1 connections", () => {
    const h = head(["HTTP/1.1 200 OK", "Content-Length: 5", "Keep-Alive: timeout=5"]);
    expect(h).toMatchObject({
      status: 200,
      interim: false,
      upgrade: false,
      reusable: true,
      keepAliveTimeout: 5,
    });
    expect(endIn(h.body!, Buffer.from("hello!"), [])).toBe(5);
  });

  it("reads a Content-Length between SP and HTAB only, and refuses anything else around it", () => {
    expect(endIn(head(["HTTP/1.1 200 OK", "Content-Length: \t5 \t"]).body!, Buffer.from("hello!"), [])).toBe(
      5,
    );
    // trim() would take these for 5; a client reading the forwarded line may not.
    for (const value of ["\u00a05", "5\u00a0", "5\u000b", "\n5", "+5", "5 5"])
      expect(() => head(["HTTP/1.1 200 OK", `Content-Length: ${value}`]), JSON.stringify(value)).toThrow(
        "bad Content-Length",
      );
  });

  it("prefers chunked to Content-Length, and then does not reuse the connection", () => {
    const both = head(["HTTP/1.1 200 OK", "Content-Length: 5", "Transfer-Encoding: chunked"]);
    expect(both.body).toBeInstanceOf(ChunkedBody);
    expect(both.reusable).toBe(false);
    expect(head(["HTTP/1.1 200 OK", "transfer-encoding: gzip, chunked"]).reusable).toBe(true);
  });

  it("reads to the close without a length, or with a coding other than chunked", () => {
    for (const h of [head(["HTTP/1.1 200 OK"]), head(["HTTP/1.1 200 OK", "Transfer-Encoding: gzip"])]) {
      expect(h.reusable).toBe(false);
      expect(h.body!.scan(Buffer.from("anything"), 0)).toBe(-1);
    }
  });

  it("knows the responses without a body", () => {
    for (const [line, method] of [
      ["HTTP/1.1 204 No Content", "GET"],
      ["HTTP/1.1 304 Not Modified", "GET"],
      ["HTTP/1.1 200 OK", "HEAD"],
    ] as const) {
      const h = head([line, "Content-Length: 100"], method);
      expect(h.body).toBeNull();
      expect(h.reusable).toBe(true);
    }
  });

  it("tells interim responses and upgrades apart", () => {
    expect(head(["HTTP/1.1 100 Continue"]).interim).toBe(true);
    expect(head(["HTTP/1.1 103 Early Hints", "Link: </a.css>; rel=preload"]).interim).toBe(true);
    const up = head(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]);
    expect(up).toMatchObject({ interim: false, upgrade: true, reusable: false });
  });

  it("does not reuse after Connection: close, nor an HTTP/1.0 answer without keep-alive", () => {
    expect(head(["HTTP/1.1 200 OK", "Content-Length: 0", "Connection: close"]).reusable).toBe(false);
    expect(head(["HTTP/1.1 200 OK", "Content-Length: 0", "Connection: x, Close"]).reusable).toBe(false);
    expect(head(["HTTP/1.0 200 OK", "Content-Length: 0"]).reusable).toBe(false);
    expect(head(["HTTP/1.0 200 OK", "Content-Length: 0", "Connection: keep-alive"]).reusable).toBe(true);
  });

  it.each([
    ["a status line that is not HTTP/1.x", ["HTTP/2 200"]],
    ["a three-digit status missing", ["HTTP/1.1 20 OK"]],
    ["a header line without a colon", ["HTTP/1.1 200 OK", "nonsense"]],
    ["a Content-Length that is not a number", ["HTTP/1.1 200 OK", "Content-Length: 1e3"]],
    ["two different Content-Lengths", ["HTTP/1.1 200 OK", "Content-Length: 1", "Content-Length: 2"]],
    ["a status under 100", ["HTTP/1.1 099 Odd"]],
  ])("refuses %s", (_what, lines) => {
    expect(() => head(lines)).toThrow(FramingError);
  });
});

describe("parseResponseHead for a forwarder (keep)", () => {
  it("keeps the header list and the reason, and refuses Content-Length with Transfer-Encoding", () => {
    const h = parseResponseHead("HTTP/1.1 404 Not Here\r\nX-A:  b \r\nContent-Length: 0", "GET", true);
    expect(h).toMatchObject({
      status: 404,
      reason: "Not Here",
      headers: ["X-A", "b", "Content-Length", "0"],
    });
    expect(h.body).toBeNull(); // Content-Length: 0 is no body at all
    expect(() =>
      parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip", "GET", true),
    ).toThrow(FramingError);
  });
});

describe("HeadCollector", () => {
  it("finds the end of a head however it is cut, the CRLF CRLF included", () => {
    const text = "HTTP/1.1 200 OK\r\nA: 1\r\n\r\nBODY";
    const bytes = Buffer.from(text);
    for (let cut = 1; cut < bytes.byteLength; cut++) {
      for (const step of [1, cut]) {
        const c = new HeadCollector(100);
        let got: { head: Buffer; next: number } | null = null;
        let offset = 0;
        while (got === null) {
          const piece = bytes.subarray(offset, Math.min(offset + step, bytes.byteLength));
          got = c.take(piece, 0);
          if (got === null) offset += piece.byteLength;
          else expect(offset + got.next).toBe(text.indexOf("BODY"));
        }
        expect(got.head.toString("latin1")).toBe("HTTP/1.1 200 OK\r\nA: 1");
      }
    }
  });

  it("refuses a head longer than its limit, whole or in pieces", () => {
    expect(() => new HeadCollector(10).take(Buffer.from("HTTP/1.1 200 OK\r\n\r\n"), 0)).toThrow(FramingError);
    const c = new HeadCollector(10);
    expect(c.take(Buffer.from("HTTP/1.1 2"), 0)).toBeNull();
    expect(() => c.take(Buffer.from("0"), 0)).toThrow(FramingError);
  });
});

describe("requestBody", () => {
  it("frames by Content-Length, chunked, or as no body", () => {
    expect(requestBody(["Content-Length", "3"]).scan(Buffer.from("abcd"), 0)).toBe(3);
    expect(requestBody(["Host", "a"]).scan(Buffer.from("x"), 0)).toBe(0);
    expect(requestBody(["Transfer-Encoding", "chunked"])).toBeInstanceOf(ChunkedBody);
  });

  it.each([
    ["both framings", ["Content-Length", "3", "Transfer-Encoding", "chunked"]],
    ["a coding other than chunked", ["Transfer-Encoding", "gzip, chunked"]],
    ["two Transfer-Encoding lines", ["Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked"]],
    ["a negative length", ["Content-Length", "-1"]],
    ["two different lengths", ["Content-Length", "1", "Content-Length", "2"]],
  ])("refuses %s", (_what, headers) => {
    expect(() => requestBody(headers)).toThrow(FramingError);
  });
});
