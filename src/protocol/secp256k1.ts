/**
 * ECDSA/secp256k1 verification of a 32-byte digest (keccak256 here), with the double scalar
 * multiplication done natively by OpenSSL through `crypto.verify` (spec/PROTOCOL.md, "Verifying
 * natively").
 *
 * `crypto.verify` always hashes its input (SHA-256 for EC keys), so it cannot be handed our digest z.
 * For a signature (r, s) and key W it checks x((e/s)·G + (r/s)·W) ≡ r (mod n), e = SHA-256(m).
 * We use the fixed message m = "" and the adjusted key W = Q + t·G with t = (z - e)/r (mod n):
 *   (e/s)·G + (r/s)·(Q + t·G) = (e/s)·G + (r/s)·Q + ((z - e)/s)·G = (z/s)·G + (r/s)·Q,
 * which is exactly the point ECDSA checks for digest z and key Q. So OpenSSL's answer is the ECDSA
 * verdict for (z, r, s, Q); t·G comes from a fixed-base table (32 point additions in JS).
 */
import { createHash, createPublicKey, verify } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";

const P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;
const GX = 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n;
const GY = 0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n;

/** DER SubjectPublicKeyInfo prefix for an uncompressed secp256k1 key; 65 key bytes follow. */
const SPKI_PREFIX = Buffer.from("3056301006072a8648ce3d020106052b8104000a034200", "hex");
const EMPTY = Buffer.alloc(0);
/** e = SHA-256("") mod n: the digest OpenSSL computes for the empty message we pass it. */
const E = bytesToBig(createHash("sha256").update(EMPTY).digest()) % N;

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

/** a⁻¹ mod m (m prime, a ≠ 0 mod m), by the extended Euclidean algorithm. */
function inv(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, m);
}

/** A point in Jacobian coordinates (X/Z², Y/Z³); never the point at infinity here. */
type Jacobian = [x: bigint, y: bigint, z: bigint];

/**
 * Jacobian + affine addition on y² = x³ + 7. Returns undefined when the two points share an x
 * (equal or opposite points), which callers treat as a corner case.
 */
function addMixed(p: Jacobian, x2: bigint, y2: bigint): Jacobian | undefined {
  const [x1, y1, z1] = p;
  const z1z1 = (z1 * z1) % P;
  const u2 = (x2 * z1z1) % P;
  const s2 = (((y2 * z1) % P) * z1z1) % P;
  const h = mod(u2 - x1, P);
  if (h === 0n) return undefined;
  const r = mod(s2 - y1, P);
  const hh = (h * h) % P;
  const hhh = (h * hh) % P;
  const v = (x1 * hh) % P;
  const x3 = mod(r * r - hhh - 2n * v, P);
  const y3 = mod(r * (v - x3) - y1 * hhh, P);
  return [x3, y3, (z1 * h) % P];
}

function double(x: bigint, y: bigint): Jacobian {
  const l = mod(3n * x * x * inv(2n * y, P), P);
  const x3 = mod(l * l - 2n * x, P);
  return [x3, mod(l * (x - x3) - y, P), 1n];
}

/** Affine points j·256^w·G for w = 0..31, j = 1..255, as x, y pairs at index 2·(255·w + j - 1). */
let combTable: bigint[] | undefined;

function comb(): bigint[] {
  if (combTable) return combTable;
  const table: bigint[] = new Array(32 * 255 * 2);
  let bx = GX;
  let by = GY;
  for (let w = 0; w < 32; w++) {
    // j·B for j = 1..256 in Jacobian coordinates, then one shared inversion to make them affine.
    const pts: Jacobian[] = [[bx, by, 1n], double(bx, by)];
    for (let j = 2; j < 256; j++) pts.push(addMixed(pts[j - 1]!, bx, by)!);
    const prefix: bigint[] = [];
    let acc = 1n;
    for (const p of pts) {
      prefix.push(acc);
      acc = (acc * p[2]) % P;
    }
    let accInv = inv(acc, P);
    for (let j = 255; j >= 0; j--) {
      const p = pts[j]!;
      const zi = (accInv * prefix[j]!) % P;
      accInv = (accInv * p[2]) % P;
      const zi2 = (zi * zi) % P;
      const x = (p[0] * zi2) % P;
      const y = (((p[1] * zi2) % P) * zi) % P;
      if (j === 255) {
        bx = x; // 256·B is the next window's base
        by = y;
      } else {
        table[2 * (255 * w + j)] = x;
        table[2 * (255 * w + j) + 1] = y;
      }
    }
  }
  combTable = table;
  return table;
}

/** k·G for 0 < k < n: one table point per nonzero byte of k. Undefined on a corner case. */
function multiplyG(k: bigint): Jacobian | undefined {
  const table = comb();
  let acc: Jacobian | undefined;
  for (let w = 0; w < 32 && k > 0n; w++, k >>= 8n) {
    const j = Number(k & 0xffn);
    if (j === 0) continue;
    const i = 2 * (255 * w + j - 1);
    if (!acc) acc = [table[i]!, table[i + 1]!, 1n];
    else if (!(acc = addMixed(acc, table[i]!, table[i + 1]!))) return undefined;
  }
  return acc;
}

/** Builds the comb table now rather than on the first verification (about 0.2 s of CPU). */
export function warmUp(): void {
  comb();
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

/** The affine coordinates of 0x04 || X || Y if it is a point on the curve, else undefined. */
export function parsePublicKey(pub: Uint8Array): { x: bigint; y: bigint } | undefined {
  if (pub.byteLength !== 65 || pub[0] !== 0x04) return undefined;
  const x = bytesToBig(pub.subarray(1, 33));
  const y = bytesToBig(pub.subarray(33, 65));
  if (x >= P || y >= P || (y * y) % P !== (((x * x) % P) * x + 7n) % P) return undefined;
  return { x, y };
}

/** True if (r, s) is a valid low-s ECDSA signature of `digest` by the uncompressed key `pub`. */
export function verifyDigest(digest: Uint8Array, sig: SignatureParts, pub: Uint8Array): boolean {
  const q = parsePublicKey(pub);
  if (!q || digest.byteLength !== 32 || sig.s > HALF_N) return false;
  const t = mod((bytesToBig(digest) - E) * inv(sig.r, N), N);
  let wx = q.x;
  let wy = q.y;
  if (t !== 0n) {
    const tg = multiplyG(t);
    const w = tg && addMixed(tg, q.x, q.y);
    if (!w) return verifyReference(digest, sig, pub); // t·G = ±Q: left to the reference code
    const zi = inv(w[2], P);
    const zi2 = (zi * zi) % P;
    wx = (w[0] * zi2) % P;
    wy = (((w[1] * zi2) % P) * zi) % P;
  }
  const der = Buffer.allocUnsafe(SPKI_PREFIX.byteLength + 65);
  SPKI_PREFIX.copy(der, 0);
  der[SPKI_PREFIX.byteLength] = 0x04;
  bigTo32(wx).copy(der, SPKI_PREFIX.byteLength + 1);
  bigTo32(wy).copy(der, SPKI_PREFIX.byteLength + 33);
  const rs = Buffer.allocUnsafe(64);
  bigTo32(sig.r).copy(rs, 0);
  bigTo32(sig.s).copy(rs, 32);
  try {
    const key = createPublicKey({ key: der, format: "der", type: "spki" });
    return verify("sha256", EMPTY, { key, dsaEncoding: "ieee-p1363" }, rs);
  } catch {
    return false;
  }
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

/**
 * Recovers the uncompressed public key from r || s || v (v = 27/28 or 0/1), or undefined. A key
 * recovered from (z, r, s) satisfies the ECDSA equation by construction, so it needs no second check.
 */
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
