/**
 * An agent's secp256k1 identity: address, public key, and EIP-191 signing. Holds the private key
 * in memory only; nothing here logs or prints it.
 */
import { addressOfPublicKey, checksumAddress, eip191Digest, toHex } from "../protocol/auth-message.ts";
import { signer } from "./secp256k1-signer.ts";

export class AgentIdentity {
  readonly address: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly #privateKey: Uint8Array;

  constructor(privateKey: Uint8Array) {
    if (!signer.isValidSecretKey(privateKey)) {
      throw new Error("not a valid secp256k1 private key");
    }
    this.#privateKey = privateKey;
    this.publicKey = signer.publicKey(privateKey);
    this.address = addressOfPublicKey(this.publicKey);
  }

  static generate(): AgentIdentity {
    return new AgentIdentity(signer.randomSecretKey());
  }

  static fromHex(hex: string): AgentIdentity {
    const clean = hex.trim().replace(/^0x/, "");
    if (!/^[0-9a-fA-F]{64}$/.test(clean)) throw new Error("key file does not hold a 32-byte hex private key");
    return new AgentIdentity(new Uint8Array(Buffer.from(clean, "hex")));
  }

  /** EIP-55 checksummed address with 0x. */
  get checksumAddress(): string {
    return checksumAddress(this.address);
  }

  /** 40 lowercase hex digits, as used in public host names. */
  get hexAddress(): string {
    return toHex(this.address);
  }

  /** personal_sign: returns r || s || v with v = 27 or 28, low-s (RFC 6979 deterministic). */
  signMessage(message: string): Uint8Array {
    const { signature, recovery } = signer.sign(eip191Digest(message), this.#privateKey);
    const out = new Uint8Array(65);
    out.set(signature, 0);
    out[64] = recovery + 27;
    return out;
  }

  /** The private key as hex, for writing the key file only. */
  exportPrivateKeyHex(): string {
    return toHex(this.#privateKey);
  }

  toJSON(): { address: string } {
    return { address: this.checksumAddress };
  }
}
