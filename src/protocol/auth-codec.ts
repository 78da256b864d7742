/**
 * Binary codecs for the three authentication messages (spec/PROTOCOL.md, "Authentication").
 * All integers are big-endian. Decoders throw `AuthDecodeError` on any malformed input and never
 * read past the message.
 */
import { NONCE_BYTES, PROTOCOL_VERSION } from "./constants.ts";

export const MessageType = { Challenge: 0x01, Auth: 0x02, AuthOk: 0x03 } as const;

export const SIGNATURE_BYTES = 65;
export const PUBLIC_KEY_BYTES = 65;
export const ADDRESS_BYTES = 20;
export const MAX_ORIGIN_BYTES = 255;
export const MAX_URL_BYTES = 1024;
const FLAG_PUBKEY = 0x01;

export class AuthDecodeError extends Error {
  override name = "AuthDecodeError";
}

export interface Challenge {
  version: number;
  nonce: Uint8Array;
  /** The relay's clock, Unix milliseconds, so a peer can report skew. */
  relayTimeMs: number;
}

export interface AuthRequest {
  address: Uint8Array;
  nonce: Uint8Array;
  timestamp: number;
  /** r (32) || s (32) || v (1, 27 or 28). */
  signature: Uint8Array;
  /** Optional uncompressed public key, 0x04 || X || Y. */
  publicKey?: Uint8Array;
  origin: string;
}

export interface AuthOk {
  publicUrl: string;
  maxStreams: number;
  keepAliveMs: number;
  maxMessageBytes: number;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function need(buf: Uint8Array, n: number, what: string): void {
  if (buf.byteLength < n) throw new AuthDecodeError(`${what}: truncated`);
}

function readString(
  view: DataView,
  buf: Uint8Array,
  at: number,
  max: number,
  what: string,
): [string, number] {
  need(buf, at + 2, what);
  const len = view.getUint16(at);
  if (len === 0 || len > max) throw new AuthDecodeError(`${what}: bad length ${len}`);
  need(buf, at + 2 + len, what);
  try {
    return [utf8Strict.decode(buf.subarray(at + 2, at + 2 + len)), at + 2 + len];
  } catch {
    throw new AuthDecodeError(`${what}: not UTF-8`);
  }
}

function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function encodeChallenge(c: Challenge): Uint8Array {
  if (c.nonce.byteLength !== NONCE_BYTES) throw new Error("nonce must be 32 bytes");
  const out = new Uint8Array(2 + NONCE_BYTES + 8);
  const v = viewOf(out);
  out[0] = MessageType.Challenge;
  out[1] = c.version;
  out.set(c.nonce, 2);
  v.setBigUint64(2 + NONCE_BYTES, BigInt(c.relayTimeMs));
  return out;
}

export function decodeChallenge(buf: Uint8Array): Challenge {
  if (buf.byteLength !== 2 + NONCE_BYTES + 8) throw new AuthDecodeError("challenge: wrong length");
  if (buf[0] !== MessageType.Challenge) throw new AuthDecodeError("challenge: wrong type");
  const version = buf[1]!;
  if (version !== PROTOCOL_VERSION) throw new AuthDecodeError(`challenge: unsupported version ${version}`);
  const ms = viewOf(buf).getBigUint64(2 + NONCE_BYTES);
  return { version, nonce: buf.slice(2, 2 + NONCE_BYTES), relayTimeMs: Number(ms) };
}

export function encodeAuth(a: AuthRequest): Uint8Array {
  if (a.address.byteLength !== ADDRESS_BYTES) throw new Error("address must be 20 bytes");
  if (a.nonce.byteLength !== NONCE_BYTES) throw new Error("nonce must be 32 bytes");
  if (a.signature.byteLength !== SIGNATURE_BYTES) throw new Error("signature must be 65 bytes");
  if (a.publicKey && (a.publicKey.byteLength !== PUBLIC_KEY_BYTES || a.publicKey[0] !== 0x04))
    throw new Error("public key must be 65 bytes, uncompressed (0x04 || X || Y)");
  const origin = utf8.encode(a.origin);
  if (origin.byteLength === 0 || origin.byteLength > MAX_ORIGIN_BYTES)
    throw new Error("origin length out of range");
  const pk = a.publicKey ? PUBLIC_KEY_BYTES : 0;
  const out = new Uint8Array(
    2 + ADDRESS_BYTES + NONCE_BYTES + 8 + SIGNATURE_BYTES + pk + 2 + origin.byteLength,
  );
  const v = viewOf(out);
  let at = 0;
  out[at++] = MessageType.Auth;
  out[at++] = a.publicKey ? FLAG_PUBKEY : 0;
  out.set(a.address, at);
  at += ADDRESS_BYTES;
  out.set(a.nonce, at);
  at += NONCE_BYTES;
  v.setBigUint64(at, BigInt(a.timestamp));
  at += 8;
  out.set(a.signature, at);
  at += SIGNATURE_BYTES;
  if (a.publicKey) {
    out.set(a.publicKey, at);
    at += PUBLIC_KEY_BYTES;
  }
  v.setUint16(at, origin.byteLength);
  out.set(origin, at + 2);
  return out;
}

export function decodeAuth(buf: Uint8Array): AuthRequest {
  need(buf, 2, "auth");
  if (buf[0] !== MessageType.Auth) throw new AuthDecodeError("auth: wrong type");
  const flags = buf[1]!;
  if ((flags & ~FLAG_PUBKEY) !== 0) throw new AuthDecodeError("auth: unknown flags");
  const v = viewOf(buf);
  let at = 2;
  need(buf, at + ADDRESS_BYTES + NONCE_BYTES + 8 + SIGNATURE_BYTES, "auth");
  const address = buf.slice(at, at + ADDRESS_BYTES);
  at += ADDRESS_BYTES;
  const nonce = buf.slice(at, at + NONCE_BYTES);
  at += NONCE_BYTES;
  const ts = v.getBigUint64(at);
  at += 8;
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) throw new AuthDecodeError("auth: timestamp out of range");
  const signature = buf.slice(at, at + SIGNATURE_BYTES);
  at += SIGNATURE_BYTES;
  let publicKey: Uint8Array | undefined;
  if (flags & FLAG_PUBKEY) {
    need(buf, at + PUBLIC_KEY_BYTES, "auth");
    publicKey = buf.slice(at, at + PUBLIC_KEY_BYTES);
    if (publicKey[0] !== 0x04) throw new AuthDecodeError("auth: public key is not uncompressed");
    at += PUBLIC_KEY_BYTES;
  }
  const [origin, end] = readString(v, buf, at, MAX_ORIGIN_BYTES, "auth origin");
  if (end !== buf.byteLength) throw new AuthDecodeError("auth: trailing bytes");
  const req: AuthRequest = { address, nonce, timestamp: Number(ts), signature, origin };
  if (publicKey) req.publicKey = publicKey;
  return req;
}

export function encodeAuthOk(ok: AuthOk): Uint8Array {
  const url = utf8.encode(ok.publicUrl);
  if (url.byteLength === 0 || url.byteLength > MAX_URL_BYTES)
    throw new Error("public URL length out of range");
  for (const n of [ok.maxStreams, ok.keepAliveMs, ok.maxMessageBytes]) {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error("AUTH_OK limits must be u32");
  }
  const out = new Uint8Array(1 + 12 + 2 + url.byteLength);
  const v = viewOf(out);
  out[0] = MessageType.AuthOk;
  v.setUint32(1, ok.maxStreams);
  v.setUint32(5, ok.keepAliveMs);
  v.setUint32(9, ok.maxMessageBytes);
  v.setUint16(13, url.byteLength);
  out.set(url, 15);
  return out;
}

export function decodeAuthOk(buf: Uint8Array): AuthOk {
  need(buf, 15, "auth-ok");
  if (buf[0] !== MessageType.AuthOk) throw new AuthDecodeError("auth-ok: wrong type");
  const v = viewOf(buf);
  const [publicUrl, end] = readString(v, buf, 13, MAX_URL_BYTES, "auth-ok url");
  if (end !== buf.byteLength) throw new AuthDecodeError("auth-ok: trailing bytes");
  return {
    maxStreams: v.getUint32(1),
    keepAliveMs: v.getUint32(5),
    maxMessageBytes: v.getUint32(9),
    publicUrl,
  };
}
