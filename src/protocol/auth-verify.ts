/**
 * The relay's check of an AUTH message (spec/PROTOCOL.md, "How the relay verifies").
 * Checks run in a fixed order and the first failure decides the close code.
 */
import { timingSafeEqual } from "node:crypto";
import type { AuthRequest } from "./auth-codec.ts";
import { addressOfPublicKey, buildAuthMessage, eip191Digest } from "./auth-message.ts";
import { MAX_CLOCK_SKEW_S } from "./constants.ts";
import type { CloseReason } from "./errors.ts";
import { isCanonicalSignature, recoverPublicKey, verifyDigest } from "./secp256k1.ts";

export interface VerifyContext {
  /** The nonce the relay issued on this connection; undefined once used. */
  expectedNonce: Uint8Array | undefined;
  /** Normalized origins the relay answers to. */
  allowedOrigins: ReadonlySet<string>;
  /** The relay's clock, Unix seconds. */
  nowS: number;
  maxSkewS?: number;
  /** The Noise handshake hash of this connection, when it runs in the secure channel. */
  channelBinding?: Uint8Array | undefined;
}

export type AuthVerdict =
  | { ok: true; address: Uint8Array }
  | { ok: false; reason: CloseReason; detail: string };

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/**
 * The peer's text as it may appear in a close reason: printable ASCII only and at most 64
 * characters, so the whole reason stays within the 123 bytes a WebSocket close frame allows.
 */
function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}

export function verifyAuth(req: AuthRequest, ctx: VerifyContext): AuthVerdict {
  if (!ctx.expectedNonce || !sameBytes(req.nonce, ctx.expectedNonce)) {
    return {
      ok: false,
      reason: "bad_nonce",
      detail: "nonce was not issued on this connection or was already used",
    };
  }
  if (!ctx.allowedOrigins.has(req.origin)) {
    return {
      ok: false,
      reason: "wrong_origin",
      detail: `signed for ${printable(req.origin)}, not this relay`,
    };
  }
  const skew = Math.abs(ctx.nowS - req.timestamp);
  if (skew > (ctx.maxSkewS ?? MAX_CLOCK_SKEW_S)) {
    return { ok: false, reason: "clock_skew", detail: `timestamp is ${skew}s from the relay clock` };
  }
  const v = req.signature[64];
  if (!isCanonicalSignature(req.signature) || (v !== 27 && v !== 28)) {
    return { ok: false, reason: "bad_signature", detail: "signature is malformed or not low-s" };
  }
  const digest = eip191Digest(
    buildAuthMessage({
      origin: req.origin,
      address: req.address,
      nonce: req.nonce,
      timestamp: req.timestamp,
      channelBinding: ctx.channelBinding,
    }),
  );
  if (req.publicKey) {
    let derived: Uint8Array;
    try {
      derived = addressOfPublicKey(req.publicKey);
    } catch {
      return { ok: false, reason: "bad_message", detail: "public key is not 65-byte uncompressed" };
    }
    if (!sameBytes(derived, req.address)) {
      return { ok: false, reason: "address_mismatch", detail: "public key does not hash to the address" };
    }
    if (!verifyDigest(digest, req.signature, req.publicKey)) {
      return { ok: false, reason: "bad_signature", detail: "signature does not verify" };
    }
  } else {
    // A key recovered from (digest, r, s, v) satisfies the ECDSA equation by construction.
    const pub = recoverPublicKey(digest, req.signature);
    if (!pub || !sameBytes(addressOfPublicKey(pub), req.address)) {
      return { ok: false, reason: "bad_signature", detail: "signature does not recover to the address" };
    }
  }
  return { ok: true, address: req.address };
}
