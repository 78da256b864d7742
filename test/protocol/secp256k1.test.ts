/**
 * The relay's verifier (libsecp256k1 through the `secp256k1` package) must agree with noble, the
 * reference, on every input: random keys and digests, corrupted signatures, wrong keys, high-s,
 * out-of-range scalars and bad points. The same checks run on the package's pure-JS fallback
 * (elliptic), which a relay gets when the native binding cannot load.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { describe, expect, it } from "vitest";
import {
  isCanonicalSignature,
  recoverPublicKey,
  type Secp256k1Lib,
  type Secp256k1Verifier,
  secp256k1Backend,
  verifierFor,
  verifyDigest,
} from "../../src/protocol/secp256k1.ts";

const N = secp256k1.Point.CURVE().n;
const P = secp256k1.Point.CURVE().p;
const HALF_N = N >> 1n;
const CASES = 64;
const PREBUILT = new Set(["linux-x64", "darwin-arm64", "win32-x64"]);

const require = createRequire(import.meta.url);
const backends: Array<[string, Secp256k1Verifier]> = [
  ["as loaded", { verifyDigest, recoverPublicKey }],
  ["js fallback", verifierFor(require("secp256k1/elliptic") as Secp256k1Lib)],
];

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

/** r || s || v for the given scalars. */
function sigBytes(r: bigint, s: bigint, v = 27): Uint8Array {
  return new Uint8Array([...be32(r), ...be32(s), v]);
}

/** A low-s signature r || s || (27 + recovery bit) by noble. */
function sign(digest: Uint8Array, priv: Uint8Array): Uint8Array {
  const rec = secp256k1.sign(digest, priv, { prehash: false, lowS: true, format: "recovered" });
  return new Uint8Array([...rec.subarray(1, 65), rec[0]! + 27]);
}

/** The reference verdict: noble, low-s only, uncompressed 0x04 keys only (the spec's policy). */
function reference(digest: Uint8Array, sig: Uint8Array, pub: Uint8Array): boolean {
  if (pub.byteLength !== 65 || pub[0] !== 0x04 || sig.byteLength < 64) return false;
  try {
    return secp256k1.verify(sig.subarray(0, 64), digest, pub, {
      prehash: false,
      lowS: true,
      format: "compact",
    });
  } catch {
    return false;
  }
}

/** Every backend and the reference must agree; returns the shared verdict. */
function agreed(digest: Uint8Array, sig: Uint8Array, pub: Uint8Array, what: string): boolean {
  const want = reference(digest, sig, pub);
  for (const [name, b] of backends) {
    expect(b.verifyDigest(digest, sig, pub), `${what} (${name}); noble says ${want}`).toBe(want);
  }
  return want;
}

describe("verifyDigest agrees with noble, natively and on the JS fallback", () => {
  it(`accepts ${CASES} valid signatures and rejects their corruptions`, () => {
    for (let i = 0; i < CASES; i++) {
      const key = modN(big(seeded("key", i))) || 1n;
      const priv = be32(key);
      const pub = secp256k1.getPublicKey(priv, false);
      const digest = seeded("digest", i);
      const sig = sign(digest, priv);
      const at = `case ${i}`;
      expect(agreed(digest, sig, pub, `${at} valid`)).toBe(true);
      expect(agreed(digest, sig.subarray(0, 64), pub, `${at} valid, 64 bytes`)).toBe(true);

      const flipped = digest.slice();
      flipped[i % 32]! ^= 1 << (i % 8);
      expect(agreed(flipped, sig, pub, `${at} digest bit flipped`)).toBe(false);

      const otherPub = secp256k1.getPublicKey(be32(modN(key + 1n) || 1n), false);
      expect(agreed(digest, sig, otherPub, `${at} wrong key`)).toBe(false);

      const r = big(sig.subarray(0, 32));
      const s = big(sig.subarray(32, 64));
      const rFlipped = r ^ (1n << BigInt(i % 256));
      expect(agreed(digest, sigBytes(rFlipped, s), pub, `${at} r bit flipped`)).toBe(false);
      const sFlipped = s ^ (1n << BigInt(i % 256));
      expect(agreed(digest, sigBytes(r, sFlipped), pub, `${at} s bit flipped`)).toBe(false);

      // The high-s twin (r, n - s) is a valid ECDSA signature, but not a canonical one.
      expect(agreed(digest, sigBytes(r, N - s), pub, `${at} high-s`)).toBe(false);
    }
  });

  it("range-checks r and s: 1 ≤ r < n, 1 ≤ s ≤ n/2", () => {
    const digest = seeded("digest", 0);
    const priv = be32(7n);
    const pub = secp256k1.getPublicKey(priv, false);
    const sig = sign(digest, priv);
    const r = big(sig.subarray(0, 32));
    const s = big(sig.subarray(32, 64));
    expect(isCanonicalSignature(sig)).toBe(true);
    expect(isCanonicalSignature(sigBytes(1n, 1n))).toBe(true);
    expect(isCanonicalSignature(sigBytes(N - 1n, HALF_N))).toBe(true);
    for (const [name, bad] of [
      ["r = 0", sigBytes(0n, s)],
      ["r = n", sigBytes(N, s)],
      ["r = 2^256 - 1", sigBytes((1n << 256n) - 1n, s)],
      ["s = 0", sigBytes(r, 0n)],
      ["s = n/2 + 1", sigBytes(r, HALF_N + 1n)],
      ["s = n", sigBytes(r, N)],
      ["s = 2^256 - 1", sigBytes(r, (1n << 256n) - 1n)],
    ] as const) {
      expect(isCanonicalSignature(bad), name).toBe(false);
      expect(agreed(digest, bad, pub, name)).toBe(false);
    }
    expect(isCanonicalSignature(sig.subarray(0, 63))).toBe(false);
    expect(isCanonicalSignature(new Uint8Array([...sig, 0]))).toBe(false);
  });

  it("accepts only uncompressed curve points as keys", () => {
    const digest = seeded("digest", 1);
    const priv = be32(12345n);
    const pub = secp256k1.getPublicKey(priv, false);
    const sig = sign(digest, priv);
    const offCurve = pub.slice();
    offCurve[64]! ^= 1;
    const prefixed = (p: number) => new Uint8Array([p, ...pub.subarray(1)]);
    // Hybrid encodings (0x06/0x07 + parity) are the same point; libsecp256k1 parses them, we do not.
    const hybrid = prefixed(pub[64]! & 1 ? 0x07 : 0x06);
    for (const [name, key] of [
      ["off the curve", offCurve],
      ["0x02 prefix on 65 bytes", prefixed(0x02)],
      ["hybrid 0x06/0x07", hybrid],
      ["x = p", new Uint8Array([4, ...be32(P), ...pub.subarray(33)])],
      ["0x04 and zeros", new Uint8Array([4, ...new Uint8Array(64)])],
      ["64 bytes", pub.subarray(0, 64)],
      ["compressed", secp256k1.getPublicKey(priv, true)],
    ] as const) {
      expect(agreed(digest, sig, key, name)).toBe(false);
    }
    expect(agreed(digest.subarray(0, 31), sig, pub, "31-byte digest")).toBe(false);
  });
});

describe("recoverPublicKey agrees with noble, natively and on the JS fallback", () => {
  it("recovers the signer's key from r || s || v, and another key (or none) for the other v", () => {
    for (let i = 0; i < 40; i++) {
      const priv = be32(modN(big(seeded("rec", i))) || 1n);
      const pub = secp256k1.getPublicKey(priv, false);
      const digest = seeded("rec-digest", i);
      const sig = sign(digest, priv);
      const otherV = sig.slice();
      otherV[64] = otherV[64] === 27 ? 28 : 27;
      const nobleOther = secp256k1
        .recoverPublicKey(new Uint8Array([otherV[64]! - 27, ...otherV.subarray(0, 64)]), digest, {
          prehash: false,
        })
        .slice();
      const otherWant = secp256k1.Point.fromBytes(nobleOther).toBytes(false);
      for (const [name, b] of backends) {
        expect(Buffer.from(b.recoverPublicKey(digest, sig)!).equals(Buffer.from(pub)), name).toBe(true);
        const other = b.recoverPublicKey(digest, otherV);
        expect(other && Buffer.from(other).equals(Buffer.from(otherWant)), `${name} other v`).toBe(true);
      }
    }
  });

  it("refuses v other than 27/28, high-s, out-of-range r and wrong lengths", () => {
    const priv = be32(99n);
    const digest = seeded("rec-digest", 99);
    const sig = sign(digest, priv);
    const r = big(sig.subarray(0, 32));
    const s = big(sig.subarray(32, 64));
    for (const [name, b] of backends) {
      for (const v of [0, 1, 2, 26, 29, 255]) {
        expect(b.recoverPublicKey(digest, sigBytes(r, s, v)), `${name} v = ${v}`).toBeUndefined();
      }
      const twin = sigBytes(r, N - s, sig[64] === 27 ? 28 : 27);
      expect(b.recoverPublicKey(digest, twin), `${name} high-s`).toBeUndefined();
      expect(b.recoverPublicKey(digest, sigBytes(0n, s)), `${name} r = 0`).toBeUndefined();
      expect(b.recoverPublicKey(digest, sigBytes(N, s)), `${name} r = n`).toBeUndefined();
      expect(b.recoverPublicKey(digest, sig.subarray(0, 64)), `${name} 64 bytes`).toBeUndefined();
      expect(b.recoverPublicKey(digest.subarray(1), sig), `${name} 31-byte digest`).toBeUndefined();
    }
  });
});

describe("the backend", () => {
  it("is the native binding on a platform the package ships prebuilt", () => {
    const platform = `${process.platform}-${process.arch}`;
    expect(["native", "js"]).toContain(secp256k1Backend);
    if (PREBUILT.has(platform)) expect(secp256k1Backend).toBe("native");
  });

  it("falls back to JS by itself when the binding cannot load, and says so", () => {
    // A child process in which loading the binding fails, as on a platform with no prebuild.
    const module = new URL("../../src/protocol/secp256k1.ts", import.meta.url).href;
    const script = `
      const Module = require("node:module");
      const load = Module._load;
      Module._load = function (request, parent, ...rest) {
        if (request === "./bindings" && parent && /secp256k1/.test(parent.filename)) {
          throw new Error("binding unavailable");
        }
        return load.call(this, request, parent, ...rest);
      };
      import(${JSON.stringify(module)}).then((m) => {
        const digest = new Uint8Array(32).fill(1);
        const sig = new Uint8Array(${JSON.stringify([...sign(new Uint8Array(32).fill(1), be32(5n))])});
        const pub = m.recoverPublicKey(digest, sig);
        process.stdout.write(JSON.stringify({ backend: m.secp256k1Backend, ok: m.verifyDigest(digest, sig, pub) }));
      });
    `;
    const out = execFileSync(process.execPath, ["--import", "tsx", "-e", script], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual({ backend: "js", ok: true });
  });
});
