/**
 * ECDSA/secp256k1 verification of a 32-byte digest, with the two scalar multiplications done
 * natively by OpenSSL through `crypto.createECDH`. Node's `crypto.verify` always hashes its input
 * (SHA-256 for EC keys), so it cannot check a keccak256 digest; this does the ECDSA equation itself.
 *
 * For a signature (r, s) over digest z and public key Q it computes u1 = z/s and u2 = r/s (mod n),
 * P1 = u1·G (full point) and x2 = x(u2·Q), then checks that r is the x-coordinate of P1 ± (u2·Q)
 * without a square root: with Y² = x2³ + 7 and d = x2 - x1, the two candidates x3 are the roots of
 * (r·d² - A)² = 4·Y²·y1², where A = Y² + y1² - (x1 + x2)·d² (all mod p). Accepting either sign
 * accepts signatures by Q or by -Q; producing one for -Q needs -d, which is as hard as d, and the
 * address still binds Q. spec/PROTOCOL.md explains this under "Verifying natively".
 */
import { createECDH } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";

const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

function bytesToBig(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex") || "0"}`);
}

function bigTo32(x: bigint): Buffer {
  return Buffer.from(x.toString(16).padStart(64, "0"), "hex");
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function invN(a: bigint): bigint {
  // Extended Euclid modulo the group order.
  let [oldR, r] = [mod(a, N), N];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, N);
}

export interface SignatureParts {
  r: bigint;
  s: bigint;
}

/** Splits r (32) || s (32) [|| v] and range-checks r and s; rejects high-s (s > n/2). */
export function parseSignature(sig: Uint8Array): SignatureParts | undefined {
  if (sig.byteLength !== 64 && sig.byteLength !== 65) return undefined;
  const r = bytesToBig(sig.subarray(0, 32));
  const s = bytesToBig(sig.subarray(32, 64));
  if (r <= 0n || r >= N || s <= 0n || s > HALF_N) return undefined;
  return { r, s };
}

/** True if (r, s) is a valid low-s ECDSA signature of `digest` by the uncompressed key `pub`. */
export function verifyDigest(digest: Uint8Array, sig: SignatureParts, pub: Uint8Array): boolean {
  const { r, s } = sig;
  const z = mod(bytesToBig(digest), N);
  const w = invN(s);
  const u1 = mod(z * w, N);
  const u2 = mod(r * w, N);
  if (u1 === 0n || u2 === 0n) return verifyReference(digest, sig, pub);
  const ecdh = createECDH("secp256k1");
  let p1: Buffer;
  let x2: bigint;
  try {
    ecdh.setPrivateKey(bigTo32(u1));
    p1 = ecdh.getPublicKey();
    ecdh.setPrivateKey(bigTo32(u2));
    x2 = bytesToBig(ecdh.computeSecret(Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength)));
  } catch {
    return false; // not a point on the curve
  }
  const x1 = bytesToBig(p1.subarray(1, 33));
  const y1 = bytesToBig(p1.subarray(33, 65));
  const d = mod(x2 - x1, P);
  if (d === 0n) return verifyReference(digest, sig, pub); // P1 = ±P2: doubling or infinity
  const d2 = (d * d) % P;
  const yy = mod(x2 * x2 * x2 + 7n, P);
  const a = mod(yy + y1 * y1 - (x1 + x2) * d2, P);
  const rhs = (4n * yy * ((y1 * y1) % P)) % P;
  for (const x3 of r + N < P ? [r, r + N] : [r]) {
    const t = mod(x3 * d2 - a, P);
    if ((t * t) % P === rhs) return true;
  }
  return false;
}

/** The pure-JS reference (noble), used for corner cases and as the oracle in tests. */
export function verifyReference(digest: Uint8Array, sig: SignatureParts, pub: Uint8Array): boolean {
  const compact = new Uint8Array(64);
  compact.set(bigTo32(sig.r), 0);
  compact.set(bigTo32(sig.s), 32);
  try {
    return secp256k1.verify(compact, digest, pub, { prehash: false, lowS: true, format: "compact" });
  } catch {
    return false;
  }
}

/** Recovers the uncompressed public key from r || s || v (v = 27/28 or 0/1), or undefined. */
export function recoverPublicKey(digest: Uint8Array, sig: Uint8Array): Uint8Array | undefined {
  if (sig.byteLength !== 65) return undefined;
  const v = sig[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return undefined;
  const rec = new Uint8Array(65);
  rec[0] = recovery;
  rec.set(sig.subarray(0, 64), 1);
  try {
    const compressed = secp256k1.recoverPublicKey(rec, digest, { prehash: false });
    return secp256k1.Point.fromBytes(compressed).toBytes(false);
  } catch {
    return undefined;
  }
}
