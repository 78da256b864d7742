/**
 * The EIP-191 (`personal_sign`) text a peer signs to log a tunnel in, and its digest.
 * See spec/PROTOCOL.md, "The signed message".
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import { PROTOCOL_VERSION } from "./constants.ts";

export interface AuthMessageFields {
  /** The relay origin as the peer dialed it, normalized by `normalizeOrigin`. */
  origin: string;
  /** The agent address, 20 bytes. */
  address: Uint8Array;
  /** The 32-byte nonce from the relay's challenge. */
  nonce: Uint8Array;
  /** Unix time in seconds. */
  timestamp: number;
  /** The Noise handshake hash when the tunnel runs in the secure channel (binds the login to it). */
  channelBinding?: Uint8Array | undefined;
}

const encoder = new TextEncoder();

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** EIP-55 mixed-case checksum encoding of a 20-byte address, with the 0x prefix. */
export function checksumAddress(address: Uint8Array): string {
  const lower = toHex(address);
  const hash = toHex(keccak_256(encoder.encode(lower)));
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const c = lower[i]!;
    out += Number.parseInt(hash[i]!, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

/** Parses `0x` + 40 hex digits (any case) into 20 bytes, or returns undefined. */
export function parseAddress(text: string): Uint8Array | undefined {
  const m = /^0x([0-9a-fA-F]{40})$/.exec(text);
  return m ? new Uint8Array(Buffer.from(m[1]!, "hex")) : undefined;
}

/**
 * Normalizes a relay URL to the origin that goes into the signed message:
 * lowercase `ws` or `wss` scheme, lowercase host, and the port only when it is not the default.
 */
export function normalizeOrigin(url: string | URL): string {
  const u = typeof url === "string" ? new URL(url) : url;
  let scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme === "http") scheme = "ws";
  if (scheme === "https") scheme = "wss";
  if (scheme !== "ws" && scheme !== "wss")
    throw new Error(`relay URL must be ws:// or wss://, got ${u.protocol}`);
  // URL already lowercases the host and drops a default port.
  return `${scheme}://${u.host}`;
}

/**
 * Builds the exact text that is signed. Lines are separated by a single LF, with no trailing LF.
 * Over the Noise channel a last line `Channel: 0x<handshake hash>` binds the login to that channel.
 */
export function buildAuthMessage(f: AuthMessageFields): string {
  return [
    "Agent Relay tunnel login",
    `Version: ${PROTOCOL_VERSION}`,
    `Origin: ${f.origin}`,
    `Address: ${checksumAddress(f.address)}`,
    `Nonce: 0x${toHex(f.nonce)}`,
    `Timestamp: ${f.timestamp}`,
    ...(f.channelBinding ? [`Channel: 0x${toHex(f.channelBinding)}`] : []),
  ].join("\n");
}

/** keccak256("\x19Ethereum Signed Message:\n" + byteLength + message), as in EIP-191 version 0x45. */
export function eip191Digest(message: string): Uint8Array {
  const body = encoder.encode(message);
  const prefix = encoder.encode(`\x19Ethereum Signed Message:\n${body.byteLength}`);
  const buf = new Uint8Array(prefix.byteLength + body.byteLength);
  buf.set(prefix, 0);
  buf.set(body, prefix.byteLength);
  return keccak_256(buf);
}

/** The address of an uncompressed secp256k1 public key (65 bytes, 0x04 || X || Y). */
export function addressOfPublicKey(pub: Uint8Array): Uint8Array {
  if (pub.byteLength !== 65 || pub[0] !== 0x04) throw new Error("public key must be 65 bytes, uncompressed");
  return keccak_256(pub.subarray(1)).subarray(12);
}
