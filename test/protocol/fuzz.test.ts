/**
 * Property tests (fast-check) on every parser of untrusted bytes: the auth messages, the yamux
 * header and session decoder, the Host router and the request head the peer reads. Each property
 * runs thousands of cases; a failure prints the shrunk counterexample and its seed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AuthDecodeError,
  type AuthOk,
  type AuthRequest,
  decodeAuth,
  decodeAuthOk,
  decodeChallenge,
  encodeAuth,
  encodeAuthOk,
  encodeChallenge,
} from "../../src/protocol/auth-codec.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/constants.ts";
import {
  ChunkedBody,
  FramingError,
  parseResponseHead,
  UntilClose,
} from "../../src/protocol/http1-framing.ts";
import { findHeadEnd, HeadError, parseHead, rewriteHead } from "../../src/protocol/request-head.ts";
import { hostName, routeHost } from "../../src/relay/host.ts";
import { decodeHeader, encodeHeader, YamuxProtocolError } from "../../src/yamux/frame.ts";
import type { SessionClosedError } from "../../src/yamux/session.ts";
import { rawRemote } from "../yamux/pipe.ts";

const RUNS = 3_000;

/** Runs `fn` and fails unless it returns or throws an instance of `allowed`. */
function onlyThrows<T>(allowed: new (...args: never[]) => Error, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof allowed)) throw err;
    return undefined;
  }
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const utf8Len = (s: string) => Buffer.byteLength(s, "utf8");
/** Any Unicode text of 1-255 UTF-8 bytes, a leading U+FEFF (byte order mark) included. */
const origin = fc
  .string({ unit: "binary", minLength: 1, maxLength: 80 })
  .filter((s) => utf8Len(s) >= 1 && utf8Len(s) <= 255);

const authRequest: fc.Arbitrary<AuthRequest> = fc
  .record({
    address: bytes(20),
    nonce: bytes(32),
    timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    signature: bytes(65),
    // Uncompressed secp256k1 keys only: 0x04 || X || Y.
    publicKey: fc.option(
      bytes(64).map((xy) => new Uint8Array([0x04, ...xy])),
      { nil: undefined },
    ),
    origin,
  })
  .map((r) => {
    const { publicKey, ...rest } = r;
    return publicKey ? { ...rest, publicKey } : rest;
  });

/** A valid encoding with bytes flipped, dropped or appended. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      valid,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      fc.uint8Array({ maxLength: 8 }),
    )
    .map(([v, flips, cut, extra]) => {
      const b = Buffer.from(v);
      for (const [at, value] of flips) b[at % b.byteLength] = value;
      const kept = b.subarray(0, b.byteLength - (cut % 4 === 0 ? cut % 7 : 0));
      return new Uint8Array(Buffer.concat([kept, cut % 3 === 0 ? Buffer.from(extra) : Buffer.alloc(0)]));
    });
}

describe("auth codecs", () => {
  it("decodeAuth: random bytes only ever raise AuthDecodeError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        onlyThrows(AuthDecodeError, () => decodeAuth(b));
      }),
      { numRuns: RUNS },
    );
  });

  it("decodeAuth: valid messages round-trip", () => {
    fc.assert(
      fc.property(authRequest, (req) => {
        expect(decodeAuth(encodeAuth(req))).toEqual(req);
      }),
      { numRuns: RUNS },
    );
  });

  it("decodeAuth: damaged messages raise AuthDecodeError or decode to something that re-encodes the same", () => {
    fc.assert(
      fc.property(mutated(authRequest.map(encodeAuth)), (b) => {
        const req = onlyThrows(AuthDecodeError, () => decodeAuth(b));
        if (req) expect(Buffer.from(encodeAuth(req)).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it("decodeChallenge: random bytes only ever raise AuthDecodeError; valid ones round-trip", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        onlyThrows(AuthDecodeError, () => decodeChallenge(b));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 42, maxLength: 42 }),
          bytes(32).map((nonce) =>
            encodeChallenge({ version: PROTOCOL_VERSION, nonce, relayTimeMs: Date.now() }),
          ),
        ),
        (b) => {
          const c = onlyThrows(AuthDecodeError, () => decodeChallenge(b));
          if (c && c.relayTimeMs <= Number.MAX_SAFE_INTEGER)
            expect(Buffer.from(encodeChallenge(c)).equals(Buffer.from(b))).toBe(true);
        },
      ),
      { numRuns: RUNS },
    );
  });

  const authOk: fc.Arbitrary<AuthOk> = fc.record({
    publicUrl: fc.string({ unit: "binary", minLength: 1, maxLength: 300 }).filter((s) => utf8Len(s) <= 1024),
    maxStreams: fc.integer({ min: 0, max: 0xffffffff }),
    keepAliveMs: fc.integer({ min: 0, max: 0xffffffff }),
    maxMessageBytes: fc.integer({ min: 0, max: 0xffffffff }),
  });

  it("decodeAuthOk: random and damaged bytes only ever raise AuthDecodeError; valid ones round-trip", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (b) => {
        onlyThrows(AuthDecodeError, () => decodeAuthOk(b));
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(authOk, (ok) => {
        expect(decodeAuthOk(encodeAuthOk(ok))).toEqual(ok);
      }),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(mutated(authOk.map(encodeAuthOk)), (b) => {
        const ok = onlyThrows(AuthDecodeError, () => decodeAuthOk(b));
        if (ok && !Buffer.from(b).includes(Buffer.from([0xef, 0xbb, 0xbf])))
          expect(Buffer.from(encodeAuthOk(ok)).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("yamux", () => {
  it("decodeHeader: any 12 bytes either raise YamuxProtocolError or re-encode the same", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 20 }), fc.nat(8), (b, off) => {
        const at = off % (b.byteLength - 11);
        const h = onlyThrows(YamuxProtocolError, () => decodeHeader(b, at));
        if (h) {
          const again = encodeHeader(h.type, h.flags, h.streamId, h.length);
          expect(again.equals(Buffer.from(b.subarray(at, at + 12)))).toBe(true);
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  /** Mostly plausible frames (so the decoder gets deep into its states), some raw garbage. */
  const frameBytes = fc.oneof(
    {
      weight: 9,
      arbitrary: fc
        .record({
          version: fc.oneof({ weight: 49, arbitrary: fc.constant(0) }, fc.integer({ min: 0, max: 255 })),
          type: fc.oneof(
            { weight: 49, arbitrary: fc.integer({ min: 0, max: 3 }) },
            fc.integer({ min: 0, max: 255 }),
          ),
          flags: fc.oneof(
            { weight: 19, arbitrary: fc.constantFrom(0, 0, 0, 1, 2, 4, 8, 5, 9) },
            fc.integer({ min: 0, max: 0xffff }),
          ),
          id: fc.oneof(
            { weight: 30, arbitrary: fc.integer({ min: 1, max: 8 }) },
            fc.constant(0),
            fc.constant(0xffffffff),
            fc.nat(),
          ),
          length: fc.oneof(
            { weight: 19, arbitrary: fc.integer({ min: 0, max: 64 }) },
            fc.integer({ min: 0, max: 0xffffffff }),
          ),
          body: fc.uint8Array({ maxLength: 64 }),
          /** Mostly keep the frame self-consistent: session frames on stream 0, exact bodies. */
          tidy: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, fc.constant(false)),
        })
        .map(({ version, type, flags, id, length, body, tidy }) => {
          if (tidy && type >= 2 && type <= 3) id = 0;
          if (tidy && type === 0) length = body.byteLength;
          const h = Buffer.alloc(12);
          h[0] = version;
          h[1] = type;
          h.writeUInt16BE(flags, 2);
          h.writeUInt32BE(id >>> 0, 4);
          h.writeUInt32BE(length >>> 0, 8);
          return type === 0 ? Buffer.concat([h, body.subarray(0, length)]) : h;
        }),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)) },
  );

  /** SYNs for the remote's first streams, so frames for open streams are common. */
  const synFor = (role: "opener" | "acceptor") =>
    Buffer.concat(
      (role === "acceptor" ? [1, 3, 5] : [2, 4, 6]).map((id) => {
        const h = Buffer.alloc(12);
        h[1] = 1;
        h.writeUInt16BE(1, 2);
        h.writeUInt32BE(id, 4);
        return h;
      }),
    );

  it("Session.receive: byte soup in random pieces never throws, and ends at most in protocol_error", async () => {
    fc.assert(
      fc.property(
        fc.constantFrom("opener", "acceptor") as fc.Arbitrary<"opener" | "acceptor">,
        fc.boolean(),
        fc.array(frameBytes, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (role, acceptStreams, frames, cuts) => {
          const r = rawRemote(role, { acceptStreams, maxStreamWindow: 256 * 1024, maxInboundStreams: 4 });
          // Streams of our own, so frames for them (and for ids we never opened) both occur.
          for (let i = 0; i < 2; i++) r.session.openStream().on("error", () => {});
          let reason: SessionClosedError["reason"] | "none" = "none";
          r.session.once("close", (err) => {
            reason = err?.reason ?? "closed";
          });
          const soup = Buffer.concat([synFor(role), ...frames]);
          const at = [...new Set(cuts.map((c) => c % (soup.byteLength + 1)))].sort((a, b) => a - b);
          let from = 0;
          for (const c of [...at, soup.byteLength]) {
            r.session.receive(soup.subarray(from, c));
            from = c;
          }
          expect(["none", "protocol_error"]).toContain(reason);
          r.session.close();
        },
      ),
      { numRuns: RUNS },
    );
    // Errors that streams emit on the next tick surface here (as unhandled errors) if unhandled.
    await new Promise((resolve) => setImmediate(resolve));
  });
});

describe("routeHost", () => {
  const hex40 = fc.stringMatching(/^[0-9a-fA-F]{40}$/);
  const domains = ["localhost", "relay.example.com", "tunnel.link"];

  it("never throws; an agent route names 40 lowercase hex digits under the domain", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 120 }),
          fc
            .tuple(hex40, fc.constantFrom(...domains), fc.string({ maxLength: 8 }))
            .map(([a, d, noise]) => `${a}.${d}${noise}`),
        ),
        fc.constantFrom(...domains),
        (host, domain) => {
          const route = routeHost(host, domain);
          if (route.kind === "agent") {
            expect(route.address).toMatch(/^[0-9a-f]{40}$/);
            expect(hostName(host)).toBe(`${route.address}.${domain}`);
          }
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it("any case, a port and one trailing dot still reach the same agent", () => {
    fc.assert(
      fc.property(
        hex40,
        fc.constantFrom(...domains),
        fc.boolean(),
        fc.boolean(),
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        (address, domain, upper, dot, port) => {
          const d = upper ? domain.toUpperCase() : domain;
          const host = `${address}.${d}${dot ? "." : ""}${port === undefined ? "" : `:${port}`}`;
          expect(routeHost(host, domain)).toEqual({ kind: "agent", address: address.toLowerCase() });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("a label that is not exactly 40 hex digits is invalid, never an agent", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.stringMatching(/^[0-9a-f]{0,39}$/),
          fc.stringMatching(/^[0-9a-f]{41,45}$/),
          hex40.map((a) => `0x${a}`),
          hex40.map((a) => `xn--${a}`),
          hex40.map((a) => `a.${a}`),
          fc
            .tuple(hex40, fc.nat(39), fc.constantFrom("g", "-", "_", "\u0430", "\u212a", "ａ", " "))
            .map(([a, i, c]) => a.slice(0, i) + c + a.slice(i + 1)),
        ),
        fc.constantFrom(...domains),
        (label, domain) => {
          expect(routeHost(`${label}.${domain}`, domain).kind).not.toBe("agent");
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe("request head", () => {
  const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,20}$/);
  /** Header values as the peer sees them (latin1), without CR, LF or NUL, trimmed. */
  const value = fc
    .string({ unit: fc.integer({ min: 1, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 })
    .map((v) => v.replace(/[\r\n\0]/g, "").trim());
  const head = fc.record({
    method: token,
    target: fc.stringMatching(/^\/[\x21-\x7e]{0,40}$/),
    minor: fc.constantFrom("0", "1"),
    headers: fc.array(fc.tuple(token, value), { maxLength: 12 }),
  });
  const render = (h: { method: string; target: string; minor: string; headers: [string, string][] }) =>
    Buffer.from(
      `${h.method} ${h.target} HTTP/1.${h.minor}\r\n${h.headers.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`,
      "latin1",
    );

  it("findHeadEnd: only HeadError; the end is just past the first CRLFCRLF and within the limit", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          fc
            .array(fc.constantFrom("\r", "\n", "a", ":", " ", "\r\n\r\n"), { maxLength: 60 })
            .map((p) => Buffer.from(p.join(""))),
        ),
        fc.integer({ min: 0, max: 300 }),
        (buf, max) => {
          const end = onlyThrows(HeadError, () => findHeadEnd(buf, max));
          if (end === undefined) return;
          if (end === -1) {
            expect(buf.includes("\r\n\r\n")).toBe(false);
            expect(buf.byteLength).toBeLessThanOrEqual(max);
          } else {
            expect(end).toBeLessThanOrEqual(max);
            expect(buf.indexOf("\r\n\r\n")).toBe(end - 4);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("parseHead: arbitrary bytes only ever raise HeadError", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc
            .array(fc.constantFrom("GET", " ", "/", "HTTP/1.1", "\r\n", "\n", "\r", "a", ":", "\0", "\t"), {
              maxLength: 40,
            })
            .map((p) => Buffer.from(p.join(""))),
        ),
        (b) => {
          onlyThrows(HeadError, () => parseHead(Buffer.concat([b, Buffer.from("\r\n\r\n")])));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("parse then rewrite keeps every header byte-for-byte, drops and adds exactly as asked", () => {
    const drop = new Set(["x-agent-id", "x-agent-address", "x-relay-origin"]);
    const add = ["x-agent-id", "agent-1", "x-agent-address", "0xAbC", "x-relay-origin", "1"];
    fc.assert(
      fc.property(head, (h) => {
        const parsed = parseHead(render(h));
        expect(parsed.requestLine).toBe(`${h.method} ${h.target} HTTP/1.${h.minor}`);
        expect(parsed.headers).toEqual(h.headers.flat());
        const out = rewriteHead(parsed, drop, add).toString("latin1");
        expect(out.endsWith("\r\n\r\n")).toBe(true);
        const lines = out.slice(0, -4).split("\r\n");
        const kept = h.headers.filter(([n]) => !drop.has(n.toLowerCase()));
        expect(lines).toEqual([
          parsed.requestLine,
          ...kept.map(([n, v]) => `${n}: ${v}`),
          "x-agent-id: agent-1",
          "x-agent-address: 0xAbC",
          "x-relay-origin: 1",
        ]);
      }),
      { numRuns: RUNS },
    );
  });

  it("CR, LF or NUL smuggled into a head never produce an extra header line", () => {
    const evil = fc.constantFrom(
      "\r\n",
      "\n",
      "\r",
      "\0",
      "\r\nx-agent-id: spoofed",
      "\nx-agent-id: spoofed",
    );
    fc.assert(
      fc.property(head, fc.nat(), evil, fc.nat(), (h, which, bad, where) => {
        if (h.headers.length === 0) h.headers.push(["x-a", "b"]);
        const i = which % h.headers.length;
        const [n, v] = h.headers[i]!;
        const at = where % (v.length + 1);
        h.headers[i] = [n, `${v.slice(0, at)}${bad}${v.slice(at)}`];
        const parsed = onlyThrows(HeadError, () => parseHead(render(h)));
        if (!parsed) return;
        const out = rewriteHead(parsed, new Set(["x-agent-id"]), ["x-agent-id", "real"]).toString("latin1");
        const lines = out.slice(0, -4).split("\r\n");
        expect(lines.filter((l) => /^x-agent-id:/i.test(l))).toEqual(["x-agent-id: real"]);
        for (const l of lines) expect(l).not.toMatch(/[\r\n\0]/);
      }),
      { numRuns: RUNS },
    );
  });

  it("rewriteHead refuses added headers that would inject a line", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("a\r\nb", "a\nb", "a\rb", "a\0b", "x\r\n\r\nGET / HTTP/1.1"),
        fc.boolean(),
        (bad, inName) => {
          const parsed = parseHead(Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
          const add = inName ? [bad, "v"] : ["x-agent-id", bad];
          expect(() => rewriteHead(parsed, new Set(), add)).toThrow(HeadError);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/**
 * The response head as the first version of the parser read it, line by line as strings: the
 * reference the scanning `parseResponseHead` must agree with on every input, since the relay and
 * the peer must never disagree on where an answer ends.
 */
function referenceResponseHead(text: string, method: string, keep: boolean) {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: (.*))?$/.exec(lines[0]!);
  if (!m) throw new FramingError("malformed status line");
  const minor = Number(m[1]);
  const status = Number(m[2]);
  let length: string | undefined;
  let chunked: boolean | undefined;
  let close = minor === 0;
  let keepAliveTimeout: number | undefined;
  const headers: string[] | undefined = keep ? [] : undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new FramingError("malformed header line");
    const value = line.slice(colon + 1).trim();
    headers?.push(line.slice(0, colon), value);
    const name = line.slice(0, colon).toLowerCase();
    if (name === "content-length") {
      // Only SP and HTAB are whitespace around it (RFC 9110 5.6.3): "\u00a05" is no length, though
      // trim() would make it one, and the client reading the forwarded line may not.
      const digits = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
      if (!/^\d{1,15}$/.test(digits) || (length !== undefined && length !== digits))
        throw new FramingError("bad Content-Length");
      length = digits;
    } else if (name === "transfer-encoding") {
      chunked = value.split(",").pop()!.trim().toLowerCase() === "chunked";
    } else if (name === "connection") {
      for (const token of value.toLowerCase().split(",")) {
        const t = token.trim();
        if (t === "close") close = true;
        else if (t === "keep-alive" && minor === 0) close = false;
      }
    } else if (name === "keep-alive") {
      const t = /(?:^|[\s,])timeout=(\d{1,6})/i.exec(value);
      if (t) keepAliveTimeout = Number(t[1]);
    }
  }
  const out = (body: string, reusable: boolean) => ({
    status,
    reason: keep ? (m[3] ?? "") : "",
    headers,
    body,
    reusable,
    keepAliveTimeout,
  });
  if (status === 101) return out("none", false);
  if (status < 200 || status === 204 || status === 304 || method === "HEAD") return out("none", !close);
  if (keep && chunked !== undefined && length !== undefined)
    throw new FramingError("both Transfer-Encoding and Content-Length");
  if (chunked !== undefined)
    return chunked ? out("chunked", !close && length === undefined) : out("close", false);
  if (length !== undefined) return out(Number(length) === 0 ? "none" : `length ${Number(length)}`, !close);
  return out("close", false);
}

describe("response head", () => {
  const kind = (b: unknown) =>
    b === null
      ? "none"
      : b instanceof ChunkedBody
        ? "chunked"
        : b instanceof UntilClose
          ? "close"
          : `length ${(b as { left: number }).left}`;
  const piece = fc.constantFrom(
    "HTTP/1.1 200 OK",
    "HTTP/1.0 204 ",
    "HTTP/1.1 101",
    "HTTP/1.1 100 Continue",
    "HTTP/1.1 304 x",
    "\r\n",
    "\r",
    "\n",
    ":",
    " ",
    "\t",
    ",",
    "Content-Length",
    "content-LENGTH: 5",
    "Transfer-Encoding: gzip, chunked",
    "transfer-encoding",
    "chunked",
    "Connection",
    "close",
    "keep-alive",
    "Keep-Alive: timeout=7",
    "X-A",
    "0",
    "12",
    "\u00a0",
    "\u00e9",
  );
  const status = fc.oneof(
    fc.constantFrom("HTTP/1.1 200 OK", "HTTP/1.0 200 OK", "HTTP/1.1 204 ", "HTTP/1.1 101", "HTTP/1.1 100 x"),
    fc.constantFrom(
      "HTTP/1.1 304 Not Modified",
      "HTTP/1.1 404 Not \u00e9",
      "HTTP/1.1 200 a\rb",
      "HTTP/1.1 20",
    ),
    fc.array(piece, { maxLength: 4 }).map((p) => p.join("")),
  );
  const name = fc.oneof(
    fc.constantFrom(
      "Content-Length",
      "content-length",
      "Transfer-Encoding",
      "TRANSFER-encoding",
      "Connection",
    ),
    fc.constantFrom(
      "connection",
      "Keep-Alive",
      "keep-alive",
      "X-A",
      "Content-Lengt",
      "Transfer-Encodings",
      "",
    ),
    fc.array(piece, { maxLength: 3 }).map((p) => p.join("")),
  );
  const value = fc.oneof(
    fc.constantFrom("5", " 5 ", "0", "12", "1e3", "chunked", "gzip, chunked", "chunked, gzip", "close"),
    fc.constantFrom("keep-alive", "x, Close", "timeout=7", "max=2, timeout=3", "\u00a05", ""),
    fc.constantFrom("TIMEOUT=1234567", "timeout=", "timeout=x, timeout=4", "timeout=12abc", "Timeout=05"),
    fc.array(piece, { maxLength: 3 }).map((p) => p.join("")),
  );
  const line = fc
    .tuple(name, fc.constantFrom(":", ": ", " :", "", ":\t"), value)
    .map(([n, sep, v]) => `${n}${sep}${v}`);
  const text = fc.oneof(
    fc.tuple(status, fc.array(line, { maxLength: 6 })).map(([s, ls]) => [s, ...ls].join("\r\n")),
    fc.array(piece, { maxLength: 24 }).map((p) => p.join("")),
  );
  it("the byte parser agrees with the string reference on every head, keep or not", () => {
    fc.assert(
      fc.property(text, fc.constantFrom("GET", "HEAD"), fc.boolean(), (text, method, keep) => {
        let want: ReturnType<typeof referenceResponseHead> | FramingError;
        try {
          want = referenceResponseHead(text, method, keep);
        } catch (err) {
          want = err as FramingError;
        }
        let got: ReturnType<typeof parseResponseHead> | undefined;
        try {
          got = parseResponseHead(Buffer.from(text, "latin1"), method, keep);
        } catch (err) {
          expect(err).toBeInstanceOf(FramingError);
          expect(want).toBeInstanceOf(FramingError);
          expect((err as Error).message).toBe((want as Error).message);
          return;
        }
        expect(want).not.toBeInstanceOf(FramingError);
        const w = want as ReturnType<typeof referenceResponseHead>;
        expect({
          status: got.status,
          reason: got.reason,
          headers: got.headers,
          body: kind(got.body),
          reusable: got.reusable,
          keepAliveTimeout: got.keepAliveTimeout,
        }).toEqual(w);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});
