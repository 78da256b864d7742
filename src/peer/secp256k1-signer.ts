/**
 * The secp256k1 operations behind an agent identity: key check, public key, and recoverable ECDSA
 * signing with the RFC 6979 nonce and low-s. libsecp256k1 through the `secp256k1` package's
 * Node-API binding when it loads (prebuilt for linux-x64, darwin-arm64 and win32-x64), else
 * @noble/curves, loaded only then. Both give the same bytes for the same key and digest.
 *
 * Why not noble everywhere: in a long-running peer its modules, its precomputed point tables and
 * the optimised code for its field arithmetic stay resident, several MiB of the idle RSS.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import type * as Secp256k1 from "secp256k1";

export interface Secp256k1Signer {
  readonly backend: "native" | "noble";
  /** 32 bytes, 1 ≤ key < n. */
  isValidSecretKey(key: Uint8Array): boolean;
  randomSecretKey(): Uint8Array;
  /** Uncompressed: 0x04 || X || Y. */
  publicKey(key: Uint8Array): Uint8Array;
  /** r || s (64 bytes, low-s) and the recovery id (0 or 1) for a 32-byte digest. */
  sign(digest: Uint8Array, key: Uint8Array): { signature: Uint8Array; recovery: number };
}

type NativeLib = Pick<typeof Secp256k1, "privateKeyVerify" | "publicKeyCreate" | "ecdsaSign">;

/** The native binding alone (not the package's own fallback), or undefined if it cannot load. */
export function nativeSigner(): Secp256k1Signer | undefined {
  let lib: NativeLib;
  try {
    lib = createRequire(import.meta.url)("secp256k1/bindings") as NativeLib;
  } catch {
    return undefined;
  }
  const isValidSecretKey = (key: Uint8Array) => key.byteLength === 32 && lib.privateKeyVerify(key);
  return {
    backend: "native",
    isValidSecretKey,
    randomSecretKey() {
      for (;;) {
        const key = new Uint8Array(randomBytes(32));
        if (isValidSecretKey(key)) return key;
      }
    },
    publicKey: (key) => lib.publicKeyCreate(key, false),
    sign(digest, key) {
      const { signature, recid } = lib.ecdsaSign(digest, key);
      return { signature, recovery: recid };
    },
  };
}

export async function nobleSigner(): Promise<Secp256k1Signer> {
  const { secp256k1 } = await import("@noble/curves/secp256k1.js");
  return {
    backend: "noble",
    isValidSecretKey: (key) => key.byteLength === 32 && secp256k1.utils.isValidSecretKey(key),
    randomSecretKey: () => secp256k1.utils.randomSecretKey(),
    publicKey: (key) => secp256k1.getPublicKey(key, false),
    sign(digest, key) {
      // Recovered format: recovery id || r || s.
      const rec = secp256k1.sign(digest, key, { prehash: false, format: "recovered" });
      return { signature: rec.subarray(1, 65), recovery: rec[0]! };
    },
  };
}

/** The backend this process uses. */
export const signer: Secp256k1Signer = nativeSigner() ?? (await nobleSigner());
