/** The peer's request-head reader: limits, what it accepts, what it refuses, and the rewrite. */
import { describe, expect, it } from "vitest";
import { findHeadEnd, HeadError, parseHead, rewriteHead } from "../../src/protocol/request-head.ts";

const head = (s: string) => Buffer.from(s, "latin1");

function headErrorOf(fn: () => unknown): HeadError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HeadError) return err;
    throw err;
  }
  throw new Error("expected a HeadError");
}

describe("findHeadEnd", () => {
  it("returns -1 until the blank line, then the index just past it", () => {
    expect(findHeadEnd(head("GET / HTTP/1.1\r\nHost: a\r\n"), 100)).toBe(-1);
    expect(findHeadEnd(head("GET / HTTP/1.1\r\nHost: a\r\n\r"), 100)).toBe(-1);
    const h = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    expect(findHeadEnd(head(`${h}body bytes\r\n\r\n`), 100)).toBe(h.length);
  });

  it("accepts a head of exactly the limit and refuses one byte more", () => {
    const h = "GET / HTTP/1.1\r\nX: 1\r\n\r\n";
    expect(findHeadEnd(head(h), h.length)).toBe(h.length);
    expect(headErrorOf(() => findHeadEnd(head(h), h.length - 1)).code).toBe("request_header_too_large");
  });

  it("refuses an unfinished head once it is longer than the limit", () => {
    expect(findHeadEnd(head("x".repeat(64)), 64)).toBe(-1);
    expect(headErrorOf(() => findHeadEnd(head("x".repeat(65)), 64)).code).toBe("request_header_too_large");
  });

  it("does not take a bare LF LF for the end of the head", () => {
    expect(findHeadEnd(head("GET / HTTP/1.1\n\nHost: a\n\n"), 100)).toBe(-1);
  });
});

describe("parseHead", () => {
  it("splits the request line and headers, keeping names, duplicates and order as sent", () => {
    const parsed = parseHead(
      head("POST /a?b=1 HTTP/1.1\r\nHost: x.localhost\r\nX-Dup: 1\r\nx-dup: 2\r\nEmpty:\r\n\r\n"),
    );
    expect(parsed.requestLine).toBe("POST /a?b=1 HTTP/1.1");
    expect(parsed.headers).toEqual(["Host", "x.localhost", "X-Dup", "1", "x-dup", "2", "Empty", ""]);
  });

  it("trims optional whitespace around values and keeps colons and tabs inside them", () => {
    const parsed = parseHead(head("GET / HTTP/1.0\r\nA: \t b:c\td \t\r\n\r\n"));
    expect(parsed.headers).toEqual(["A", "b:c\td"]);
  });

  it("accepts an absolute-form target and HTTP/1.0", () => {
    expect(parseHead(head("GET http://x.localhost/p HTTP/1.0\r\n\r\n")).requestLine).toBe(
      "GET http://x.localhost/p HTTP/1.0",
    );
  });

  it("keeps bytes above 0x7f in values unchanged", () => {
    const raw = Buffer.concat([
      head("GET / HTTP/1.1\r\nX: "),
      Buffer.from([0xe2, 0x82, 0xac, 0xff]),
      head("\r\n\r\n"),
    ]);
    const out = rewriteHead(parseHead(raw), new Set(), []);
    expect(out.equals(raw)).toBe(true);
  });

  it.each([
    ["an empty request line", "\r\nHost: a\r\n\r\n"],
    ["HTTP/2", "GET / HTTP/2.0\r\n\r\n"],
    ["a missing version", "GET /\r\n\r\n"],
    ["two spaces", "GET  / HTTP/1.1\r\n\r\n"],
    ["a space in the target", "GET /a b HTTP/1.1\r\n\r\n"],
    ["a method that is not a token", "G(T / HTTP/1.1\r\n\r\n"],
    ["a bare CR in the request line", "GET /\r HTTP/1.1\r\n\r\n"],
    ["whitespace before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"],
    ["an obsolete folded line", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"],
    ["a line without a colon", "GET / HTTP/1.1\r\nnot a header\r\n\r\n"],
    ["an empty name", "GET / HTTP/1.1\r\n: v\r\n\r\n"],
    ["a bare LF inside a value", "GET / HTTP/1.1\r\nA: b\nX-Agent-Id: spoofed\r\n\r\n"],
    ["a bare CR inside a value", "GET / HTTP/1.1\r\nA: b\rX-Agent-Id: spoofed\r\n\r\n"],
    ["NUL in a value", "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n"],
    ["an empty line inside the head", "GET / HTTP/1.1\r\n\r\nA: b\r\n\r\n"],
  ])("refuses %s with bad_request", (_what, text) => {
    expect(headErrorOf(() => parseHead(head(text))).code).toBe("bad_request");
  });
});

describe("rewriteHead", () => {
  const drop = new Set(["x-agent-id", "x-agent-address", "x-relay-origin"]);
  const add = ["x-agent-id", "agent-1", "x-agent-address", "0xAbC", "x-relay-origin", "1"];

  it("drops client copies of the identity headers in any case and appends the real ones", () => {
    const parsed = parseHead(
      head(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Agent-Id: spoofed\r\nX-AGENT-ADDRESS: 0xdead\r\nAccept: */*\r\n\r\n",
      ),
    );
    expect(rewriteHead(parsed, drop, add).toString("latin1")).toBe(
      "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n" +
        "x-agent-id: agent-1\r\nx-agent-address: 0xAbC\r\nx-relay-origin: 1\r\n\r\n",
    );
  });

  it.each([
    ["CRLF in a value", ["x-agent-id", "a\r\nx-admin: 1"]],
    ["LF in a value", ["x-agent-id", "a\nx-admin: 1"]],
    ["NUL in a value", ["x-agent-id", "a\0"]],
    ["a name that is not a token", ["x agent", "1"]],
    ["a name with a colon", ["x-a: b", "1"]],
    ["an empty name", ["", "1"]],
  ])("refuses to add a header with %s", (_what, bad) => {
    const parsed = parseHead(head("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    expect(headErrorOf(() => rewriteHead(parsed, drop, bad)).code).toBe("bad_request");
  });
});
