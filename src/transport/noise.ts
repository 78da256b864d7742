/**
 * Noise_XX_25519_ChaChaPoly_SHA256 (noiseprotocol.org, rev 34), the optional secure channel between
 * the WebSocket and everything above it. The primitives (X25519, ChaCha20-Poly1305, SHA-256, HKDF)
 * come from @chainsafe/libp2p-noise's crypto module; the XX state machine is here because the
 * protocol needs the handshake hash, which that package does not expose, to bind the EIP-191 login
 * to this one channel (spec/PROTOCOL.md, "Secure channel").
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import type { ICryptoInterface } from "@chainsafe/libp2p-noise";

export const NOISE_PROTOCOL_NAME = "Noise_XX_25519_ChaChaPoly_SHA256";
export const NOISE_PROLOGUE = "agent-relay.v1+noise";
/** Largest Noise message (ciphertext) and the plaintext that fits in it. */
export const MAX_NOISE_MESSAGE = 65535;
export const MAX_NOISE_PLAINTEXT = MAX_NOISE_MESSAGE - 16;

const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

export class NoiseError extends Error {
  override name = "NoiseError";
}

export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** A CipherState: key k and 64-bit counter n; the nonce is 32 zero bits then n little-endian. */
export class CipherState {
  private readonly nonce = Buffer.alloc(12);
  private n = 0n;

  constructor(
    private readonly crypto: ICryptoInterface,
    private readonly k: Uint8Array | undefined,
  ) {}

  get hasKey(): boolean {
    return this.k !== undefined;
  }

  private nextNonce(): Uint8Array {
    if (this.n >= 0xffffffffffffffffn) throw new NoiseError("nonce exhausted");
    this.nonce.writeBigUInt64LE(this.n, 4);
    this.n++;
    return this.nonce;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.k) return plaintext;
    return this.crypto.chaCha20Poly1305Encrypt(plaintext, this.nextNonce(), ad, this.k).subarray();
  }

  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (!this.k) return ciphertext;
    if (ciphertext.length < 16) throw new NoiseError("ciphertext shorter than its tag");
    try {
      return this.crypto.chaCha20Poly1305Decrypt(ciphertext, this.nextNonce(), ad, this.k).subarray();
    } catch {
      throw new NoiseError("message failed authentication");
    }
  }
}

class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  cs: CipherState;

  constructor(private readonly crypto: ICryptoInterface) {
    const name = utf8.encode(NOISE_PROTOCOL_NAME); // exactly 32 bytes: used as h directly
    this.h = name;
    this.ck = name;
    this.cs = new CipherState(crypto, undefined);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = this.crypto.getHKDF(this.ck, ikm);
    this.ck = ck;
    this.cs = new CipherState(this.crypto, k);
  }

  mixHash(data: Uint8Array): void {
    this.h = this.crypto.hashSHA256(concat(this.h, data)).subarray();
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cs.encryptWithAd(this.h, plaintext);
    this.mixHash(c);
    return c;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const p = this.cs.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return p;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = this.crypto.getHKDF(this.ck, EMPTY);
    return [new CipherState(this.crypto, k1), new CipherState(this.crypto, k2)];
  }
}

export interface HandshakeOptions {
  prologue?: Uint8Array;
  staticKey?: KeyPair;
  /** Fixed ephemeral key, for test vectors only. */
  ephemeralKey?: KeyPair;
}

/**
 * XX:  -> e
 *      <- e, ee, s, es
 *      -> s, se
 * The initiator (the tunnel peer) writes messages 1 and 3, the responder (the relay) message 2.
 */
export class XXHandshake {
  private readonly ss: SymmetricState;
  private readonly s: KeyPair;
  private e: KeyPair | undefined;
  private re: Uint8Array | undefined;
  private rs: Uint8Array | undefined;
  private step = 0;

  constructor(
    readonly initiator: boolean,
    private readonly crypto: ICryptoInterface,
    private readonly opts: HandshakeOptions = {},
  ) {
    this.ss = new SymmetricState(crypto);
    this.ss.mixHash(opts.prologue ?? utf8.encode(NOISE_PROLOGUE));
    this.s = opts.staticKey ?? crypto.generateX25519KeyPair();
  }

  get complete(): boolean {
    return this.step === 3;
  }

  /** The handshake hash h; final once `complete`. */
  get handshakeHash(): Uint8Array {
    return this.ss.h;
  }

  get remoteStaticKey(): Uint8Array | undefined {
    return this.rs;
  }

  private dh(priv: KeyPair, pub: Uint8Array): Uint8Array {
    return x25519(priv, pub);
  }

  private writeE(): Uint8Array {
    this.e = this.opts.ephemeralKey ?? this.crypto.generateX25519KeyPair();
    this.ss.mixHash(this.e.publicKey);
    return this.e.publicKey;
  }

  private readE(msg: Uint8Array, at: number): number {
    if (msg.length < at + 32) throw new NoiseError("handshake message too short");
    this.re = msg.slice(at, at + 32);
    this.ss.mixHash(this.re);
    return at + 32;
  }

  private readS(msg: Uint8Array, at: number): number {
    const len = 32 + (this.ss.cs.hasKey ? 16 : 0);
    if (msg.length < at + len) throw new NoiseError("handshake message too short");
    this.rs = this.ss.decryptAndHash(msg.subarray(at, at + len)).slice();
    return at + len;
  }

  /** Writes the next handshake message carrying `payload`. */
  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    const parts: Uint8Array[] = [];
    if (this.initiator && this.step === 0) {
      parts.push(this.writeE());
    } else if (!this.initiator && this.step === 1) {
      parts.push(this.writeE());
      this.ss.mixKey(this.dh(this.e!, this.re!)); // ee
      parts.push(this.ss.encryptAndHash(this.s.publicKey)); // s
      this.ss.mixKey(this.dh(this.s, this.re!)); // es (responder: s with the initiator's e)
    } else if (this.initiator && this.step === 2) {
      parts.push(this.ss.encryptAndHash(this.s.publicKey)); // s
      this.ss.mixKey(this.dh(this.s, this.re!)); // se (initiator: s with the responder's e)
    } else {
      throw new NoiseError("not our turn to write");
    }
    parts.push(this.ss.encryptAndHash(payload));
    this.step++;
    return parts.reduce(concat);
  }

  /** Reads the next handshake message; returns its payload. Throws NoiseError on any fault. */
  readMessage(msg: Uint8Array): Uint8Array {
    let at = 0;
    if (!this.initiator && this.step === 0) {
      at = this.readE(msg, at);
    } else if (this.initiator && this.step === 1) {
      at = this.readE(msg, at);
      this.ss.mixKey(this.dh(this.e!, this.re!)); // ee
      at = this.readS(msg, at);
      this.ss.mixKey(this.dh(this.e!, this.rs!)); // es (initiator: e with the responder's s)
    } else if (!this.initiator && this.step === 2) {
      at = this.readS(msg, at);
      this.ss.mixKey(this.dh(this.e!, this.rs!)); // se (responder: e with the initiator's s)
    } else {
      throw new NoiseError("not our turn to read");
    }
    const payload = this.ss.decryptAndHash(msg.subarray(at));
    this.step++;
    return payload;
  }

  /** After the handshake: [initiator→responder, responder→initiator] cipher states, ours first. */
  split(): { send: CipherState; recv: CipherState } {
    if (!this.complete) throw new NoiseError("handshake not complete");
    const [c1, c2] = this.ss.split();
    return this.initiator ? { send: c1, recv: c2 } : { send: c2, recv: c1 };
  }
}

const b64url = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString("base64url");
const ownKeys = new WeakMap<KeyPair, KeyObject>();

/**
 * X25519 with Node's KeyObjects imported from JWK: the package's own DH re-imports the private key
 * from DER on every call, which costs about ten times the DH itself.
 */
function x25519(own: KeyPair, remote: Uint8Array): Uint8Array {
  if (remote.length !== 32) throw new NoiseError("X25519 public key must be 32 bytes");
  let privateKey = ownKeys.get(own);
  if (!privateKey) {
    privateKey = createPrivateKey({
      key: { kty: "OKP", crv: "X25519", d: b64url(own.privateKey), x: b64url(own.publicKey) },
      format: "jwk",
    });
    ownKeys.set(own, privateKey);
  }
  try {
    const publicKey = createPublicKey({
      key: { kty: "OKP", crv: "X25519", x: b64url(remote) },
      format: "jwk",
    });
    return diffieHellman({ privateKey, publicKey });
  } catch {
    throw new NoiseError("X25519 failed (low-order or invalid public key)");
  }
}

/** An X25519 key pair from Node, as raw bytes (JWK export avoids the DER round trip). */
function x25519KeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync("x25519");
  const jwk = privateKey.export({ format: "jwk" });
  const pair = { privateKey: Buffer.from(jwk.d!, "base64url"), publicKey: Buffer.from(jwk.x!, "base64url") };
  ownKeys.set(pair, privateKey);
  return pair;
}

/**
 * Noise's HKDF(ck, ikm) is RFC 5869 with salt = ck, info empty, three 32-byte outputs: Node's
 * native hkdfSync computes it about 30 times faster than the package's JavaScript one.
 */
function hkdf(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const okm = new Uint8Array(hkdfSync("sha256", ikm, ck, new Uint8Array(0), 96));
  return [okm.subarray(0, 32), okm.subarray(32, 64), okm.subarray(64, 96)];
}

let loaded: Promise<ICryptoInterface> | undefined;

/**
 * Loads the primitives lazily (the plain protocol never pays for them): the package's ChaCha20-
 * Poly1305 and SHA-256, with Node-native HKDF and X25519 key generation.
 */
export function noiseCrypto(): Promise<ICryptoInterface> {
  loaded ??= import("@chainsafe/libp2p-noise/crypto").then(({ defaultCrypto }) => ({
    ...defaultCrypto,
    getHKDF: hkdf,
    generateX25519KeyPair: x25519KeyPair,
  }));
  return loaded;
}
