/**
 * ECDSA/secp256k1 on a 32-byte digest (keccak256 here) with libsecp256k1, through the npm package
 * `secp256k1` (spec/PROTOCOL.md, "Verifying natively"). The policy is ours and is applied here
 * whatever the backend: r || s with 1 ≤ r < n and 1 ≤ s ≤ n/2 (low-s), v ∈ {27, 28}, and
 * uncompressed public keys (0x04 || X || Y) only.
 *
 * The package loads its Node-API binding (prebuilt for linux-x64, darwin-arm64 and win32-x64) and,
 * if that fails, falls back on its own to a pure-JS implementation (elliptic): same answers, slower.
 * `secp256k1Backend` says which one this process got.
 */
import { createRequire } from "node:module";
import type * as Secp256k1 from "secp256k1";

/** The subset of the `secp256k1` package API used here; both of its backends provide it. */
export type Secp256k1Lib = Pick<typeof Secp256k1, "ecdsaVerify" | "ecdsaRecover">;

const require = createRequire(import.meta.url);
const lib = require("secp256k1") as Secp256k1Lib;

/**
 * "native" when the binding loaded, "js" when the package fell back to elliptic (its fallback module
 * is then in the require cache; the native path never loads it).
 */
export const secp256k1Backend: "native" | "js" =
  require.resolve("secp256k1/elliptic") in require.cache ? "js" : "native";

/** n, the group order, and ⌊n/2⌋, big-endian. */
const N = Buffer.from("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "hex");
const HALF_N = Buffer.from("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "hex");

function view(b: Uint8Array, start: number, end: number): Buffer {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start);
}

function isZero(b: Buffer): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** True for r (32) || s (32) [|| v] with 1 ≤ r < n and 1 ≤ s ≤ n/2; v is not looked at. */
export function isCanonicalSignature(sig: Uint8Array): boolean {
  if (sig.byteLength !== 64 && sig.byteLength !== 65) return false;
  const r = view(sig, 0, 32);
  const s = view(sig, 32, 64);
  return !isZero(r) && r.compare(N) < 0 && !isZero(s) && s.compare(HALF_N) <= 0;
}

/** Operations bound to one backend; the module's own functions use the package as it loaded. */
export interface Secp256k1Verifier {
  /** True if r || s [|| v] is a canonical ECDSA signature of `digest` by the key 0x04 || X || Y. */
  verifyDigest(digest: Uint8Array, sig: Uint8Array, pub: Uint8Array): boolean;
  /** The uncompressed key that signed `digest`, from r || s || v (v = 27 or 28), or undefined. */
  recoverPublicKey(digest: Uint8Array, sig: Uint8Array): Uint8Array | undefined;
}

export function verifierFor(backend: Secp256k1Lib): Secp256k1Verifier {
  return {
    verifyDigest(digest, sig, pub) {
      if (digest.byteLength !== 32 || pub.byteLength !== 65 || pub[0] !== 0x04) return false;
      if (!isCanonicalSignature(sig)) return false;
      try {
        // Throws on a key that is not a curve point; returns false for a wrong signature.
        return backend.ecdsaVerify(sig.subarray(0, 64), digest, pub);
      } catch {
        return false;
      }
    },
    recoverPublicKey(digest, sig) {
      if (digest.byteLength !== 32 || sig.byteLength !== 65 || !isCanonicalSignature(sig)) return undefined;
      const v = sig[64]!;
      if (v !== 27 && v !== 28) return undefined;
      try {
        // A key recovered from (z, r, s) satisfies the ECDSA equation by construction.
        return backend.ecdsaRecover(sig.subarray(0, 64), v - 27, digest, false);
      } catch {
        return undefined;
      }
    },
  };
}

const verifier = verifierFor(lib);
export const verifyDigest = verifier.verifyDigest;
export const recoverPublicKey = verifier.recoverPublicKey;
