/**
 * The native verifier (crypto.verify with an adjusted key) must agree with noble on every input:
 * random keys and digests, corrupted signatures, wrong keys, high-s, bad points and corner cases.
 */
import { createHash } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { describe, expect, it } from "vitest";
import {
  parsePublicKey,
  parseSignature,
  recoverPublicKey,
  type SignatureParts,
  verifyDigest,
  verifyReference,
} from "../../src/protocol/secp256k1.ts";

const N = secp256k1.Point.CURVE().n;
const P = secp256k1.Point.CURVE().p;
const CASES = 300;

/** Deterministic bytes, so a failure names inputs that reproduce. */
function seeded(label: string, i: number): Uint8Array {
  return new Uint8Array(createHash("sha256").update(`${label}/${i}`).digest());
}

function big(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString("hex")}`);
}

function be32(x: bigint): Uint8Array {
  return new Uint8Array(Buffer.from(x.toString(16).padStart(64, "0"), "hex"));
}

function modN(x: bigint): bigint {
  return ((x % N) + N) % N;
}

function invN(x: bigint): bigint {
  // Fermat: x^(n-2) mod n.
  let result = 1n;
  let base = modN(x);
  let e = N - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % N;
    base = (base * base) % N;
    e >>= 1n;
  }
  return result;
}

function sign(digest: Uint8Array, key: Uint8Array): SignatureParts {
  const sig = secp256k1.sign(digest, key, { prehash: false, lowS: true });
  return { r: big(sig.subarray(0, 32)), s: big(sig.subarray(32, 64)) };
}

/** Both verifiers, which must agree; returns the shared verdict. */
function both(digest: Uint8Array, sig: SignatureParts, pub: Uint8Array, what: string): boolean {
  const native = verifyDigest(digest, sig, pub);
  const reference = verifyReference(digest, sig, pub);
  expect(native, `${what}: native ${native}, noble ${reference}`).toBe(reference);
  return native;
}

describe("verifyDigest agrees with noble", () => {
  it(`accepts ${CASES} valid signatures and rejects their corruptions`, () => {
    for (let i = 0; i < CASES; i++) {
      const key = modN(big(seeded("key", i))) || 1n;
      const priv = be32(key);
      const pub = secp256k1.getPublicKey(priv, false);
      const digest = seeded("digest", i);
      const sig = sign(digest, priv);
      const at = `case ${i}`;
      expect(both(digest, sig, pub, `${at} valid`)).toBe(true);

      const flipped = digest.slice();
      flipped[i % 32]! ^= 1 << (i % 8);
      expect(both(flipped, sig, pub, `${at} digest bit flipped`)).toBe(false);

      const otherPub = secp256k1.getPublicKey(be32(modN(key + 1n) || 1n), false);
      expect(both(digest, sig, otherPub, `${at} wrong key`)).toBe(false);

      const rFlipped = { r: sig.r ^ (1n << BigInt(i % 255)), s: sig.s };
      if (rFlipped.r > 0n && rFlipped.r < N) {
        expect(both(digest, rFlipped, pub, `${at} r bit flipped`)).toBe(false);
      }
      const sFlipped = { r: sig.r, s: sig.s ^ (1n << BigInt(i % 254)) };
      if (sFlipped.s > 0n && sFlipped.s <= N >> 1n) {
        expect(both(digest, sFlipped, pub, `${at} s bit flipped`)).toBe(false);
      }

      // The high-s twin (r, n - s) is a valid ECDSA signature, but not a canonical one.
      const high = { r: sig.r, s: N - sig.s };
      expect(both(digest, high, pub, `${at} high-s`)).toBe(false);
    }
  });

  it("rejects high-s and out-of-range signatures when parsing", () => {
    const digest = seeded("digest", 0);
    const sig = sign(digest, be32(7n));
    const bytes = (r: bigint, s: bigint) => new Uint8Array([...be32(r), ...be32(s), 27]);
    expect(parseSignature(bytes(sig.r, sig.s))).toEqual(sig);
    expect(parseSignature(bytes(sig.r, N - sig.s))).toBeUndefined();
    expect(parseSignature(bytes(0n, sig.s))).toBeUndefined();
    expect(parseSignature(bytes(N, sig.s))).toBeUndefined();
    expect(parseSignature(bytes(sig.r, 0n))).toBeUndefined();
    expect(parseSignature(bytes(sig.r, N >> 1n))).toEqual({ r: sig.r, s: N >> 1n });
    expect(parseSignature(bytes(sig.r, (N >> 1n) + 1n))).toBeUndefined();
    expect(parseSignature(new Uint8Array(63))).toBeUndefined();
  });

  it("rejects public keys that are not points on the curve", () => {
    const digest = seeded("digest", 1);
    const priv = be32(12345n);
    const pub = secp256k1.getPublicKey(priv, false);
    const sig = sign(digest, priv);
    const offCurve = pub.slice();
    offCurve[64]! ^= 1;
    expect(parsePublicKey(offCurve)).toBeUndefined();
    expect(both(digest, sig, offCurve, "off-curve key")).toBe(false);
    const compressedPrefix = pub.slice();
    compressedPrefix[0] = 0x02;
    expect(both(digest, sig, compressedPrefix, "0x02 prefix")).toBe(false);
    const xTooBig = new Uint8Array([4, ...be32(P), ...pub.subarray(33)]);
    expect(both(digest, sig, xTooBig, "x = p")).toBe(false);
    expect(verifyDigest(digest, sig, pub.subarray(0, 64))).toBe(false);
  });

  it("handles the corner cases t = 0 and t·G = ±Q (the adjusted key would be Q or infinity)", () => {
    // e = SHA-256("") mod n is what OpenSSL hashes; z = e gives t = 0.
    const e = modN(big(new Uint8Array(createHash("sha256").update("").digest())));
    const d = 0x1234567890abcdefn;
    const pub = secp256k1.getPublicKey(be32(d), false);
    const k = 0xfeedfacecafebeefn;
    const r = modN(secp256k1.Point.BASE.multiply(k).toAffine().x);
    const forDigest = (z: bigint): SignatureParts => {
      let s = modN(invN(k) * (z + r * d));
      if (s > N >> 1n) s = N - s;
      return { r, s };
    };
    for (const [name, z] of [
      ["t = 0", e],
      ["t·G = Q", modN(e + r * d)],
      ["t·G = -Q", modN(e - r * d)],
    ] as const) {
      const digest = be32(z);
      expect(both(digest, forDigest(z), pub, name)).toBe(true);
      const wrong = be32(modN(z + 1n));
      expect(both(wrong, forDigest(z), pub, `${name}, other digest`)).toBe(false);
      // t depends on z and r only, so a wrong s still takes the corner-case path.
      const { s } = forDigest(z);
      const otherS = s > 1n ? s - 1n : s + 1n;
      expect(both(digest, { r, s: otherS }, pub, `${name}, wrong s`)).toBe(false);
    }
  });
});

describe("recoverPublicKey", () => {
  it("recovers the signer's key from r || s || v, and a different key for the wrong v", () => {
    for (let i = 0; i < 20; i++) {
      const priv = be32(modN(big(seeded("rec", i))) || 1n);
      const pub = secp256k1.getPublicKey(priv, false);
      const digest = seeded("rec-digest", i);
      const rec = secp256k1.sign(digest, priv, { prehash: false, format: "recovered" });
      const sig = new Uint8Array([...rec.subarray(1, 65), rec[0]! + 27]);
      expect(Buffer.from(recoverPublicKey(digest, sig)!).equals(Buffer.from(pub))).toBe(true);
      const otherV = sig.slice();
      otherV[64] = otherV[64] === 27 ? 28 : 27;
      const other = recoverPublicKey(digest, otherV);
      expect(other && Buffer.from(other).equals(Buffer.from(pub))).toBeFalsy();
      const badV = sig.slice();
      badV[64] = 29;
      expect(recoverPublicKey(digest, badV)).toBeUndefined();
    }
  });
});
