/**
 * The fast lane's heads on bytes against the string paths they stand in for. forwardAnswerHead:
 * parseResponseHead's header list through forwardResponseHeaders, then the checks Node's writeHead
 * makes; same fields in the same order, and never a head the string path would refuse.
 * forwardPlainRequestHead: forwardRequestHeaders and requestHead; same fields.
 */
import { STATUS_CODES } from "node:http";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FramingError, parseResponseHead } from "../../src/protocol/http1-framing.ts";
import { parseHead } from "../../src/protocol/request-head.ts";
import {
  forwardAnswerHead,
  forwardPlainRequestHead,
  forwardRequestHeaders,
  forwardResponseHeaders,
} from "../../src/relay/forward-headers.ts";
import { requestHead } from "../../src/relay/proxy.ts";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[^\t\u0020-\u007e\u0080-\u00ff]/;
const TAIL = "X-Request-Id: r\r\n";
const DROPPED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "upgrade",
]);
for (const n of ["proxy-authorization", "proxy-authenticate", "http2-settings", "x-request-id"])
  DROPPED.add(n);

/**
 * Whether the head has a field Node would refuse to write that the string path never checks: one the
 * relay drops anyway, or a control character that JavaScript's trim() took off a value's ends.
 */
function badUnchecked(text: string): boolean {
  const lines = text.split("\r\n").slice(1);
  const split = (l: string) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)] as const;
  const listed = new Set<string>();
  for (const l of lines) {
    const [n, v] = split(l);
    if (n.toLowerCase() === "connection") for (const t of v.split(",")) listed.add(t.trim().toLowerCase());
  }
  return lines.some((l) => {
    const [n, v] = split(l);
    const lower = n.toLowerCase();
    if (BAD_VALUE.test(v) && !BAD_VALUE.test(v.trim())) return true;
    return (DROPPED.has(lower) || listed.has(lower)) && (!TOKEN.test(n) || BAD_VALUE.test(v));
  });
}

/** The fields of a head written as text: [name, trimmed value] pairs, status line apart. */
function fieldsOf(out: string): { line: string; fields: string[] } {
  expect(out.endsWith(`${TAIL}\r\n`)).toBe(true);
  const lines = out.slice(0, -(TAIL.length + 2)).split("\r\n");
  const fields: string[] = [];
  for (const l of lines.slice(1, -1)) {
    const colon = l.indexOf(":");
    fields.push(l.slice(0, colon), l.slice(colon + 1).trim());
  }
  return { line: lines[0]!, fields };
}

function stringPath(text: string): { line: string; fields: string[] } | "refused" {
  const h = parseResponseHead(text, "GET", true);
  const fields = forwardResponseHeaders(h.headers!);
  for (let i = 0; i < fields.length; i += 2)
    if (!TOKEN.test(fields[i]!) || BAD_VALUE.test(fields[i + 1]!)) return "refused";
  if (BAD_VALUE.test(h.reason)) return "refused";
  return { line: `HTTP/1.1 ${h.status} ${h.reason || STATUS_CODES[h.status]}`, fields };
}

function bytePath(text: string): { line: string; fields: string[]; facts: string } | "refused" {
  let facts = "";
  try {
    const out = forwardAnswerHead(Buffer.from(text, "latin1"), (f) => {
      facts = `${f.length} ${f.date}`;
      return TAIL;
    });
    return { ...fieldsOf(out.toString("latin1")), facts };
  } catch (err) {
    if (err instanceof FramingError) return "refused";
    throw err;
  }
}

describe("forwardAnswerHead", () => {
  it("drops hop-by-hop fields, those Connection lists and X-Request-Id; keeps the rest as sent", () => {
    const text = [
      "HTTP/1.0 200 Fine",
      "Content-Type:  text/plain ",
      "Connection: keep-alive, X-Secret",
      "Keep-Alive: timeout=5",
      "x-secret: 1",
      "X-Request-Id: local",
      "Content-Length: 3",
      "transfer-ENCODING: chunked",
      "Date: Thu, 03 Dec 2026 10:00:00 GMT",
    ].join("\r\n");
    let facts = {};
    const out = forwardAnswerHead(Buffer.from(text, "latin1"), (f) => {
      facts = f;
      return TAIL;
    });
    expect(out.toString("latin1")).toBe(
      `HTTP/1.1 200 Fine\r\nContent-Type:  text/plain \r\nContent-Length: 3\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\n${TAIL}\r\n`,
    );
    expect(facts).toMatchObject({ length: true, date: true });
    expect(forwardAnswerHead(Buffer.from("HTTP/1.1 404", "latin1"), () => "").toString()).toBe(
      "HTTP/1.1 404 Not Found\r\n\r\n",
    );
  });

  it("refuses a name that is not a token, a control character in a value or the reason, a bare CR", () => {
    for (const text of [
      "HTTP/1.1 200 OK\r\nX A: 1",
      "HTTP/1.1 200 OK\r\nX-A: 1\u0001",
      "HTTP/1.1 200 O\u007fK",
      // A bare CR would end the line for the client only: a Content-Length the parser never saw.
      "HTTP/1.1 200 OK\r\nX: a\rContent-Length: 5",
    ])
      expect(() => forwardAnswerHead(Buffer.from(text, "latin1"), () => "")).toThrow(FramingError);
  });

  const name = fc.oneof(
    fc.constantFrom(
      "Content-Length",
      "connection",
      "Keep-Alive",
      "X-Request-Id",
      "x-a",
      "Date",
      "TE",
      "Upgrade",
    ),
    fc.constantFrom("X-B", "x b", "", "\u00e9", "x\u0001", "Proxy-Connection", "Content-Type"),
  );
  const value = fc.oneof(
    fc.constantFrom(
      "3",
      " 3 ",
      "x-a",
      "X-B, close",
      "keep-alive",
      "\u00e9t\u00e9",
      "",
      "a\u0001b",
      "a\tb",
      "a\rb",
    ),
    fc.string({ unit: "binary-ascii", maxLength: 6 }).filter((v) => !/[\r\n]/.test(v)),
  );
  const head = fc
    .tuple(
      fc.constantFrom("HTTP/1.1 200 OK", "HTTP/1.0 201 Made", "HTTP/1.1 404", "HTTP/1.1 500 a\u007f"),
      fc.array(fc.tuple(name, fc.constantFrom(":", ": ", ":\t"), value), { maxLength: 7 }),
    )
    .map(([status, lines]) => [status, ...lines.map(([n, s, v]) => `${n}${s}${v}`)].join("\r\n"));

  it("agrees with the string path on every head it accepts, and accepts nothing it refuses", () => {
    fc.assert(
      fc.property(head, (text) => {
        let want: ReturnType<typeof stringPath>;
        try {
          want = stringPath(text);
        } catch (err) {
          if (!(err instanceof FramingError)) throw err;
          return; // parseResponseHead refuses it: neither path sees it.
        }
        const got = bytePath(text);
        if (want === "refused") return void expect(got).toBe("refused");
        if (got === "refused") return void expect(badUnchecked(text)).toBe(true);
        expect(got.line).toBe(want.line);
        expect(got.fields).toEqual(want.fields);
        const lower = want.fields.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        expect(got.facts).toBe(`${lower.includes("content-length")} ${lower.includes("date")}`);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("forwardPlainRequestHead", () => {
  const info = { clientIp: "203.0.113.9", proto: "https" as const, host: "a.localhost", requestId: "rid" };

  /** [name, trimmed value] pairs of a request head's text, the request line apart. */
  function requestFields(text: string): { line: string; fields: string[] } {
    const lines = text.split("\r\n");
    expect(lines.slice(-2)).toEqual(["", ""]);
    const fields: string[] = [];
    for (const l of lines.slice(1, -2)) {
      const colon = l.indexOf(":");
      fields.push(l.slice(0, colon), l.slice(colon + 1).trim());
    }
    return { line: lines[0]!, fields };
  }

  /** The string path moves its one Cookie line to the end; the byte path leaves it in place. */
  const withoutCookie = (f: string[]) => f.filter((_, i) => f[i - (i % 2)]!.toLowerCase() !== "cookie");

  const name = fc.constantFrom(
    "Host",
    "Cookie",
    "TE",
    "Connection",
    "Keep-Alive",
    "X-Forwarded-For",
    "x-request-id",
    "Forwarded",
    "Upgrade",
    "Proxy-Authorization",
    "Accept",
    "X-A",
    "x-b",
    "Content-Length",
  );
  const value = fc.constantFrom(
    "1",
    " 2 ",
    "trailers",
    "gzip, Trailers",
    "close",
    "keep-alive",
    "X-A",
    "",
    "\u00e9",
  );
  const head = fc
    .array(fc.tuple(name, fc.constantFrom(":", ": ", ":\t"), value), { maxLength: 8 })
    .map((lines) => ["GET /p?q HTTP/1.1", ...lines.map(([n, s, v]) => `${n}${s}${v}`)].join("\r\n"));

  it("forwards the same fields as the string path, or leaves the head to it", () => {
    let compared = 0;
    fc.assert(
      fc.property(head, (text) => {
        const h = parseHead(Buffer.from(`${text}\r\n\r\n`, "latin1"));
        const got = forwardPlainRequestHead(h, info);
        const cookies = h.fields("cookie").length / 2;
        const listsOthers = h
          .fields("connection")
          .some(
            (v, i) =>
              i % 2 === 1 &&
              v.split(",").some((t) => !["", "close", "keep-alive"].includes(t.trim().toLowerCase())),
          );
        if (got === null) return void expect(cookies > 1 || listsOthers).toBe(true);
        const want = requestHead("GET", "/p?q", forwardRequestHeaders(h.headers, info))!;
        const a = requestFields(got.toString("latin1"));
        const b = requestFields(want.toString("latin1"));
        expect(a.line).toBe(b.line);
        expect(withoutCookie(a.fields)).toEqual(withoutCookie(b.fields));
        expect(a.fields.length).toBe(b.fields.length);
        compared++;
      }),
      { numRuns: 2000 },
    );
    expect(compared).toBeGreaterThan(500);
  });
});
