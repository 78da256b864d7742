/**
 * Every verdict `verifyAuth` can give, in the order the checks run (spec/PROTOCOL.md,
 * "Authentication"), with fresh keys and messages signed by the peer's own signer.
 */
import { randomBytes } from "node:crypto";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { describe, expect, it } from "vitest";
import { AgentIdentity } from "../../src/peer/identity.ts";
import type { AuthRequest } from "../../src/protocol/auth-codec.ts";
import { buildAuthMessage } from "../../src/protocol/auth-message.ts";
import { type AuthVerdict, type VerifyContext, verifyAuth } from "../../src/protocol/auth-verify.ts";
import { MAX_CLOCK_SKEW_S } from "../../src/protocol/constants.ts";

const ORIGIN = "ws://127.0.0.1:8080";
const NOW = 1_767_225_600;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const agent = AgentIdentity.generate();
const stranger = AgentIdentity.generate();

interface Opts {
  signer?: AgentIdentity;
  as?: AgentIdentity;
  origin?: string;
  nonce?: Uint8Array;
  timestamp?: number;
  withKey?: boolean;
  /** The Noise handshake hash the peer signs (the Channel line). */
  channel?: Uint8Array;
}

/** A signed AUTH (as decoded) plus the context of the relay that issued its nonce. */
function login(o: Opts = {}): { req: AuthRequest; ctx: VerifyContext } {
  const who = o.as ?? agent;
  const nonce = o.nonce ?? new Uint8Array(randomBytes(32));
  const origin = o.origin ?? ORIGIN;
  const timestamp = o.timestamp ?? NOW;
  const signature = (o.signer ?? who).signMessage(
    buildAuthMessage({ origin, address: who.address, nonce, timestamp, channelBinding: o.channel }),
  );
  const req: AuthRequest = { address: who.address, nonce, timestamp, signature, origin };
  if (o.withKey ?? true) req.publicKey = who.publicKey;
  return { req, ctx: { expectedNonce: nonce, allowedOrigins: new Set([ORIGIN]), nowS: NOW } };
}

function reason(v: AuthVerdict): string {
  return v.ok ? "ok" : v.reason;
}

function withS(sig: Uint8Array, s: bigint, v?: number): Uint8Array {
  const out = sig.slice();
  out.set(Buffer.from(s.toString(16).padStart(64, "0"), "hex"), 32);
  if (v !== undefined) out[64] = v;
  return out;
}

describe("verifyAuth", () => {
  it("accepts a valid AUTH with the public key and without it (recovery)", () => {
    for (const withKey of [true, false]) {
      const { req, ctx } = login({ withKey });
      expect(verifyAuth(req, ctx)).toEqual({ ok: true, address: agent.address });
    }
  });

  it("bad_nonce: already used, or issued on another connection", () => {
    const { req, ctx } = login();
    expect(reason(verifyAuth(req, { ...ctx, expectedNonce: undefined }))).toBe("bad_nonce");
    expect(reason(verifyAuth(req, { ...ctx, expectedNonce: new Uint8Array(randomBytes(32)) }))).toBe(
      "bad_nonce",
    );
    expect(reason(verifyAuth(req, { ...ctx, expectedNonce: req.nonce.subarray(0, 31) }))).toBe("bad_nonce");
  });

  it("wrong_origin: any origin not in the relay's set, compared byte for byte", () => {
    for (const origin of [
      "ws://127.0.0.1:8081",
      "wss://127.0.0.1:8080",
      "WS://127.0.0.1:8080",
      `${ORIGIN}/`,
    ]) {
      const { req, ctx } = login({ origin });
      expect(reason(verifyAuth(req, ctx))).toBe("wrong_origin");
    }
  });

  it("keeps a hostile origin out of the close reason: printable ASCII, within 123 bytes", () => {
    for (const origin of ["é".repeat(127), "\u0000\r\n".repeat(80), "x".repeat(255), "🙂".repeat(63)]) {
      const { req, ctx } = login({ origin });
      const verdict = verifyAuth(req, ctx);
      expect(reason(verdict)).toBe("wrong_origin");
      const text = verdict.ok ? "" : `${verdict.reason}: ${verdict.detail}`;
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(123);
      expect(text).toMatch(/^[\x20-\x7e]*$/);
    }
  });

  it("clock_skew: more than the allowed skew either way; the limit itself passes", () => {
    const at = (offset: number, maxSkewS?: number) => {
      const { req, ctx } = login({ timestamp: NOW + offset });
      return reason(verifyAuth(req, maxSkewS === undefined ? ctx : { ...ctx, maxSkewS }));
    };
    expect(at(-MAX_CLOCK_SKEW_S)).toBe("ok");
    expect(at(MAX_CLOCK_SKEW_S)).toBe("ok");
    expect(at(-MAX_CLOCK_SKEW_S - 1)).toBe("clock_skew");
    expect(at(MAX_CLOCK_SKEW_S + 1)).toBe("clock_skew");
    expect(at(5, 4)).toBe("clock_skew");
    expect(at(-NOW)).toBe("clock_skew");
  });

  it("bad_signature: another signer, with and without the public key", () => {
    for (const withKey of [true, false]) {
      const { req, ctx } = login({ signer: stranger, withKey });
      expect(reason(verifyAuth(req, ctx))).toBe("bad_signature");
    }
  });

  it("bad_signature: a field changed after signing", () => {
    for (const withKey of [true, false]) {
      const { req, ctx } = login({ withKey });
      expect(reason(verifyAuth({ ...req, timestamp: req.timestamp + 1 }, ctx))).toBe("bad_signature");
    }
  });

  it("bad_signature: high-s, out-of-range r or s, v other than 27/28, wrong length", () => {
    for (const withKey of [true, false]) {
      const { req, ctx } = login({ withKey });
      const s = BigInt(`0x${Buffer.from(req.signature.subarray(32, 64)).toString("hex")}`);
      const twin = withS(req.signature, N - s, req.signature[64] === 27 ? 28 : 27);
      const zeroR = req.signature.slice();
      zeroR.fill(0, 0, 32);
      for (const [name, signature] of [
        ["high-s", twin],
        ["s = 0", withS(req.signature, 0n)],
        ["s = n", withS(req.signature, N)],
        ["r = 0", zeroR],
        ["v = 0", withS(req.signature, s, 0)],
        ["v = 29", withS(req.signature, s, 29)],
        ["64 bytes", req.signature.subarray(0, 64)],
      ] as const) {
        expect(reason(verifyAuth({ ...req, signature }, ctx)), `${name}, key ${withKey}`).toBe(
          "bad_signature",
        );
      }
    }
  });

  it("the wrong v fails only without the public key: with it, v is range-checked and not used", () => {
    const { req, ctx } = login();
    const flipped = req.signature.slice();
    flipped[64] = flipped[64] === 27 ? 28 : 27;
    expect(reason(verifyAuth({ ...req, signature: flipped }, ctx))).toBe("ok");
    const { publicKey: _, ...noKey } = req;
    expect(reason(verifyAuth({ ...noKey, signature: flipped }, ctx))).toBe("bad_signature");
  });

  it("address_mismatch: a public key that does not hash to the address", () => {
    const { req, ctx } = login();
    expect(reason(verifyAuth({ ...req, publicKey: stranger.publicKey }, ctx))).toBe("address_mismatch");
  });

  it("bad_message: a public key that is not 65-byte uncompressed", () => {
    const { req, ctx } = login();
    const compressed = req.publicKey!.slice();
    compressed[0] = 0x02;
    expect(reason(verifyAuth({ ...req, publicKey: compressed }, ctx))).toBe("bad_message");
    expect(reason(verifyAuth({ ...req, publicKey: req.publicKey!.subarray(0, 64) }, ctx))).toBe(
      "bad_message",
    );
  });

  it("bad_signature: a key that hashes to the address but is not on the curve cannot occur, and fails", () => {
    // Not constructible for a real address (it needs a keccak preimage); the verifier must still say
    // no when it is handed such a key with a matching address.
    const { req, ctx } = login();
    const offCurve = req.publicKey!.slice();
    offCurve[64]! ^= 1;
    const address = keccak_256(offCurve.subarray(1)).subarray(12);
    const verdict = verifyAuth({ ...req, address, publicKey: offCurve }, ctx);
    expect(reason(verdict)).toBe("bad_signature");
  });

  it("binds a login to its channel: the signed hash must be this connection's", () => {
    const channel = new Uint8Array(randomBytes(32));
    const other = new Uint8Array(randomBytes(32));
    for (const withKey of [true, false]) {
      const bound = login({ withKey, channel });
      expect(reason(verifyAuth(bound.req, { ...bound.ctx, channelBinding: channel }))).toBe("ok");
      // The same AUTH on another secure channel, or on a plain connection.
      expect(reason(verifyAuth(bound.req, { ...bound.ctx, channelBinding: other }))).toBe("bad_signature");
      expect(reason(verifyAuth(bound.req, bound.ctx))).toBe("bad_signature");
      // A login signed without the Channel line, presented inside a secure channel.
      const plain = login({ withKey });
      expect(reason(verifyAuth(plain.req, { ...plain.ctx, channelBinding: channel }))).toBe("bad_signature");
    }
  });

  it("checks in a fixed order: nonce, origin, clock, signature, key", () => {
    const { req, ctx } = login({ signer: stranger, origin: "ws://elsewhere:1", timestamp: NOW + 999 });
    expect(reason(verifyAuth(req, { ...ctx, expectedNonce: undefined }))).toBe("bad_nonce");
    expect(reason(verifyAuth(req, ctx))).toBe("wrong_origin");
    expect(reason(verifyAuth(req, { ...ctx, allowedOrigins: new Set([req.origin]) }))).toBe("clock_skew");
    const late = { ...ctx, allowedOrigins: new Set([req.origin]), nowS: NOW + 999 };
    expect(reason(verifyAuth(req, late))).toBe("bad_signature");
    expect(reason(verifyAuth({ ...req, signature: req.signature.subarray(0, 64) }, late))).toBe(
      "bad_signature",
    );
    const mismatch = { ...req, publicKey: stranger.publicKey };
    expect(reason(verifyAuth(mismatch, late))).toBe("address_mismatch");
  });
});
