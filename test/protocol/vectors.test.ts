/**
 * Every vector in spec/vectors/ against the code: message builder, digest, signer, codecs, verifier,
 * yamux header codec and session checks, and the error tables (including the one in PROTOCOL.md).
 * The vectors are generated independently of src/ (spec/vectors/generate.ts).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AgentIdentity } from "../../src/peer/identity.ts";
import {
  decodeAuth,
  decodeAuthOk,
  decodeChallenge,
  encodeAuth,
  encodeAuthOk,
  encodeChallenge,
} from "../../src/protocol/auth-codec.ts";
import {
  addressOfPublicKey,
  buildAuthMessage,
  checksumAddress,
  eip191Digest,
  normalizeOrigin,
  parseAddress,
} from "../../src/protocol/auth-message.ts";
import { type AuthVerdict, verifyAuth } from "../../src/protocol/auth-verify.ts";
import { MAX_CLOCK_SKEW_S, PROTOCOL_VERSION } from "../../src/protocol/constants.ts";
import { CLOSE_CODES, type CloseReason, FATAL_CLOSE_CODES, HTTP_ERRORS } from "../../src/protocol/errors.ts";
import { decodeHeader, encodeHeader, GoAwayCode } from "../../src/yamux/frame.ts";
import { Session, type SessionClosedError } from "../../src/yamux/session.ts";

const dir = new URL("../../spec/", import.meta.url);
const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(`vectors/${name}`, dir), "utf8")) as T;
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ""), "hex"));
const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString("hex")}`;

interface AuthVector {
  privateKey: string;
  publicKey: string;
  address: string;
  addressLower: string;
  publicKeyHash: string;
  origin: string;
  nonce: string;
  timestamp: number;
  relayTimeMs: number;
  message: string;
  messageHex: string;
  prefixedMessageHex: string;
  digest: string;
  signature: string;
  challenge: string;
  authWithPublicKey: string;
  authWithoutPublicKey: string;
  authOk: {
    publicUrl: string;
    maxStreams: number;
    keepAliveMs: number;
    maxMessageBytes: number;
    bytes: string;
  };
  relayContext: { allowedOrigins: string[]; nowS: number; maxSkewS: number };
}

interface VerdictVectors {
  context: { nonce: string; allowedOrigins: string[]; nowS: number; maxSkewS: number };
  cases: Array<{
    name: string;
    auth: string;
    expectedNonce?: string | null;
    expect: "ok" | CloseReason;
    closeCode?: number;
  }>;
  challenges: Array<{ name: string; bytes: string; expect: "ok" | "refuse" }>;
}

interface FrameVector {
  name: string;
  type: number;
  flags: number;
  streamId: number;
  length: number;
  hex: string;
}

interface YamuxVectors {
  frames: FrameVector[];
  dataFrameWithPayload: { hex: string };
  badHeaders: Array<{ name: string; hex: string }>;
  badSequences: Array<{ name: string; hex: string; expect: "protocol_error" | "rst"; reply?: string }>;
}

interface ErrorVectors {
  closeCodes: Record<string, number>;
  doNotReconnect: string[];
  goAwayCodes: Record<string, number>;
  http: Record<string, number>;
}

const v = load<AuthVector>("auth.json");
const fields = {
  origin: v.origin,
  address: bytes(v.address),
  nonce: bytes(v.nonce),
  timestamp: v.timestamp,
};

describe("auth.json: the worked login", () => {
  it("builds the exact message text, bytes and EIP-191 digest", () => {
    const text = buildAuthMessage(fields);
    expect(text).toBe(v.message);
    expect(hex(new TextEncoder().encode(text))).toBe(v.messageHex);
    expect(hex(eip191Digest(text))).toBe(v.digest);
    expect(
      hex(
        new TextEncoder().encode(
          `\x19Ethereum Signed Message:\n${new TextEncoder().encode(text).byteLength}${text}`,
        ),
      ),
    ).toBe(v.prefixedMessageHex);
    expect(normalizeOrigin(v.origin)).toBe(v.origin);
  });

  it("derives the public key and checksummed address, and signs exactly as viem does", () => {
    const id = AgentIdentity.fromHex(v.privateKey);
    expect(hex(id.publicKey)).toBe(v.publicKey);
    expect(id.checksumAddress).toBe(v.address);
    expect(id.hexAddress).toBe(v.addressLower);
    expect(checksumAddress(parseAddress(v.address.toLowerCase())!)).toBe(v.address);
    expect(hex(addressOfPublicKey(bytes(v.publicKey)))).toBe(`0x${v.publicKeyHash.slice(-40)}`);
    expect(hex(id.signMessage(v.message))).toBe(v.signature);
  });

  it("encodes and decodes CHALLENGE, AUTH (with and without key) and AUTH_OK byte for byte", () => {
    expect(
      hex(encodeChallenge({ version: PROTOCOL_VERSION, nonce: fields.nonce, relayTimeMs: v.relayTimeMs })),
    ).toBe(v.challenge);
    expect(decodeChallenge(bytes(v.challenge))).toEqual({
      version: 1,
      nonce: fields.nonce,
      relayTimeMs: v.relayTimeMs,
    });

    const req = {
      address: fields.address,
      nonce: fields.nonce,
      timestamp: v.timestamp,
      signature: bytes(v.signature),
      origin: v.origin,
    };
    expect(hex(encodeAuth({ ...req, publicKey: bytes(v.publicKey) }))).toBe(v.authWithPublicKey);
    expect(hex(encodeAuth(req))).toBe(v.authWithoutPublicKey);
    expect(decodeAuth(bytes(v.authWithPublicKey))).toEqual({ ...req, publicKey: bytes(v.publicKey) });
    expect(decodeAuth(bytes(v.authWithoutPublicKey))).toEqual(req);

    const { bytes: okBytes, ...ok } = v.authOk;
    expect(hex(encodeAuthOk(ok))).toBe(okBytes);
    expect(decodeAuthOk(bytes(okBytes))).toEqual(ok);
  });

  it("verifies both AUTH forms in the relay's context", () => {
    for (const auth of [v.authWithPublicKey, v.authWithoutPublicKey]) {
      const verdict = verifyAuth(decodeAuth(bytes(auth)), {
        expectedNonce: fields.nonce,
        allowedOrigins: new Set(v.relayContext.allowedOrigins),
        nowS: v.relayContext.nowS,
        maxSkewS: v.relayContext.maxSkewS,
      });
      expect(verdict).toEqual({ ok: true, address: fields.address });
    }
    expect(v.relayContext.maxSkewS).toBe(MAX_CLOCK_SKEW_S);
  });
});

describe("auth-verdicts.json: the relay's answer to each AUTH", () => {
  const vv = load<VerdictVectors>("auth-verdicts.json");

  /** What the relay does with one AUTH message: decode, then verify (tunnel-endpoint.ts). */
  function judge(c: VerdictVectors["cases"][number]): AuthVerdict {
    let req: ReturnType<typeof decodeAuth>;
    try {
      req = decodeAuth(bytes(c.auth));
    } catch {
      return { ok: false, reason: "bad_message", detail: "undecodable" };
    }
    const expectedNonce =
      c.expectedNonce === undefined
        ? bytes(vv.context.nonce)
        : c.expectedNonce === null
          ? undefined
          : bytes(c.expectedNonce);
    return verifyAuth(req, {
      expectedNonce,
      allowedOrigins: new Set(vv.context.allowedOrigins),
      nowS: vv.context.nowS,
      maxSkewS: vv.context.maxSkewS,
    });
  }

  it("has the cases the spec lists", () => {
    const names = vv.cases.map((c) => c.name);
    for (const required of [
      "reused-nonce",
      "wrong-origin",
      "clock-skew-past",
      "clock-skew-future",
      "signed-by-another-key",
      "truncated-signature",
      "high-s",
      "public-key-not-matching-address",
      "unknown-flags",
      "trailing-bytes",
    ]) {
      expect(names).toContain(required);
    }
  });

  for (const c of vv.cases) {
    it(`${c.name} → ${c.expect}`, () => {
      const verdict = judge(c);
      if (c.expect === "ok") {
        expect(verdict.ok, verdict.ok ? "" : `${verdict.reason}: ${verdict.detail}`).toBe(true);
        return;
      }
      expect(verdict.ok ? "ok" : verdict.reason).toBe(c.expect);
      expect(CLOSE_CODES[c.expect]).toBe(c.closeCode);
    });
  }

  it("CHALLENGE: version 1 decodes, anything else is refused", () => {
    for (const c of vv.challenges) {
      const outcome = (() => {
        try {
          decodeChallenge(bytes(c.bytes));
          return "ok";
        } catch {
          return "refuse";
        }
      })();
      expect(outcome, c.name).toBe(c.expect);
    }
  });
});

describe("yamux.json: frame headers and session checks", () => {
  const y = load<YamuxVectors>("yamux.json");

  it("encodes and decodes every frame header the spec uses", () => {
    for (const f of y.frames) {
      expect(hex(encodeHeader(f.type, f.flags, f.streamId, f.length)), f.name).toBe(f.hex);
      expect(decodeHeader(bytes(f.hex), 0), f.name).toEqual({
        type: f.type,
        flags: f.flags,
        streamId: f.streamId,
        length: f.length,
      });
    }
    const withPayload = bytes(y.dataFrameWithPayload.hex);
    expect(decodeHeader(withPayload, 0).length).toBe(withPayload.byteLength - 12);
  });

  it("rejects a bad version, type or flag in the header", () => {
    for (const b of y.badHeaders) expect(() => decodeHeader(bytes(b.hex), 0), b.name).toThrow();
  });

  /** A relay-side session (opens odd streams, accepts none) fed one frame. */
  async function feedRelay(frame: Uint8Array): Promise<{ closed?: SessionClosedError; sent: Buffer }> {
    const sent: Buffer[] = [];
    const session = new Session(
      {
        send: (data, cb) => {
          sent.push(Buffer.from(data));
          setImmediate(cb);
        },
      },
      "opener",
      { acceptStreams: false, keepAliveIntervalMs: 0 },
    );
    let closed: SessionClosedError | undefined;
    session.on("close", (err) => (closed = err));
    session.receive(Buffer.from(frame));
    await new Promise((resolve) => setImmediate(resolve));
    const out = { sent: Buffer.concat(sent), ...(closed ? { closed } : {}) };
    session.close();
    return out;
  }

  for (const seq of load<YamuxVectors>("yamux.json").badSequences) {
    it(`relay session: ${seq.name} → ${seq.expect}`, async () => {
      const { closed, sent } = await feedRelay(bytes(seq.hex));
      if (seq.expect === "protocol_error") {
        expect(closed?.reason).toBe("protocol_error");
        // GoAway 1 goes out before the session closes.
        expect(hex(sent.subarray(0, 12))).toBe(hex(encodeHeader(3, 0, 0, GoAwayCode.ProtocolError)));
      } else {
        expect(closed).toBeUndefined();
        expect(hex(sent)).toBe(seq.reply);
      }
    });
  }
});

describe("errors.json and the tables in PROTOCOL.md", () => {
  const e = load<ErrorVectors>("errors.json");

  it("every close code, GoAway code and HTTP status in the vectors matches the code", () => {
    const closeCodes: Record<string, number> = CLOSE_CODES;
    for (const [reason, code] of Object.entries(e.closeCodes)) expect(closeCodes[reason], reason).toBe(code);
    expect([...FATAL_CLOSE_CODES].sort()).toEqual(e.doNotReconnect.map((r) => e.closeCodes[r]).sort());
    expect({
      normal: GoAwayCode.Normal,
      protocol_error: GoAwayCode.ProtocolError,
      internal_error: GoAwayCode.InternalError,
      restarting: GoAwayCode.Restarting,
      superseded: GoAwayCode.Superseded,
    }).toEqual(e.goAwayCodes);
    // Every HTTP error in the vectors exists with that status (the code may have more; the test below
    // makes sure PROTOCOL.md lists those too).
    const statuses: Record<string, number> = Object.fromEntries(
      Object.entries(HTTP_ERRORS).map(([k, x]) => [k, x.status]),
    );
    for (const [code, status] of Object.entries(e.http)) expect(statuses[code], code).toBe(status);
  });

  it("PROTOCOL.md lists every close code and HTTP error with the same number", () => {
    const spec = readFileSync(new URL("PROTOCOL.md", dir), "utf8");
    for (const [reason, code] of Object.entries(CLOSE_CODES)) {
      expect(spec, `close ${code} ${reason}`).toMatch(new RegExp(`\\| ${code} \\| \`${reason}\` \\|`));
    }
    for (const [code, { status }] of Object.entries(HTTP_ERRORS)) {
      expect(spec, `HTTP ${status} ${code}`).toMatch(new RegExp(`\\| ${status} \\| \`${code}\` \\|`));
    }
  });
});
