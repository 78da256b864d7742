/**
 * The peer signs with libsecp256k1 when its binding loads and with noble otherwise: both must give
 * the same keys and the same signatures, byte for byte, and the identity must use the native one
 * on the platforms the package ships it for.
 */
import { createHash } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { describe, expect, it } from "vitest";
import { AgentIdentity } from "../../src/peer/identity.ts";
import { nativeSigner, nobleSigner, signer } from "../../src/peer/secp256k1-signer.ts";

const PREBUILT = new Set(["linux-x64", "darwin-arm64", "win32-x64"]);
const CASES = 32;

function seeded(label: string, i: number): Uint8Array {
  return new Uint8Array(createHash("sha256").update(`${label}/${i}`).digest());
}

describe("secp256k1 signer backends", () => {
  it("uses the native binding where the package ships one", () => {
    if (PREBUILT.has(`${process.platform}-${process.arch}`)) expect(signer.backend).toBe("native");
    expect(["native", "noble"]).toContain(signer.backend);
  });

  it("native and noble agree on keys, public keys and signatures", async () => {
    const native = nativeSigner();
    if (!native) {
      // No binding on this platform: the identity runs on noble, which the other tests cover.
      expect(signer.backend).toBe("noble");
      return;
    }
    const noble = await nobleSigner();
    for (let i = 0; i < CASES; i++) {
      const key = seeded("key", i);
      const digest = seeded("digest", i);
      expect(native.isValidSecretKey(key)).toBe(noble.isValidSecretKey(key));
      expect(Buffer.from(native.publicKey(key))).toEqual(Buffer.from(noble.publicKey(key)));
      const a = native.sign(digest, key);
      const b = noble.sign(digest, key);
      expect(Buffer.from(a.signature).toString("hex")).toBe(Buffer.from(b.signature).toString("hex"));
      expect(a.recovery).toBe(b.recovery);
      // Low-s, and the recovery id names the signer's key.
      const sig = secp256k1.Signature.fromBytes(a.signature, "compact").addRecoveryBit(a.recovery);
      expect(sig.hasHighS()).toBe(false);
      expect(Buffer.from(sig.recoverPublicKey(digest).toBytes(false))).toEqual(
        Buffer.from(noble.publicKey(key)),
      );
    }
  });

  it("both refuse keys out of range and of the wrong length", async () => {
    const n = Buffer.from("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "hex");
    const bad = [
      new Uint8Array(32),
      new Uint8Array(n),
      new Uint8Array(32).fill(0xff),
      new Uint8Array(31).fill(1),
    ];
    for (const s of [nativeSigner(), await nobleSigner()]) {
      if (!s) continue;
      for (const key of bad) expect(s.isValidSecretKey(key), s.backend).toBe(false);
      const fresh = s.randomSecretKey();
      expect(fresh.byteLength).toBe(32);
      expect(s.isValidSecretKey(fresh)).toBe(true);
    }
    for (const key of bad) expect(() => new AgentIdentity(key)).toThrow(/not a valid secp256k1 private key/);
  });
});
