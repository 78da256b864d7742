/**
 * Writes the JSON test vectors in this folder from spec/PROTOCOL.md alone: every byte is assembled
 * here by hand, and viem (`privateKeyToAccount` + `signMessage`) is the reference for keys, digests
 * and signatures. The Noise XX handshake is written out here from the Noise specification (rev 34)
 * with node:crypto's X25519, ChaCha20-Poly1305, SHA-256 and HMAC. Nothing is imported from src/, so the vectors are independent of the code they
 * check (test/protocol/vectors.test.ts). Run: npx tsx spec/vectors/generate.ts
 */
import {
  createCipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
} from "node:crypto";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashMessage, hexToBytes, keccak256, toHex, toPrefixedMessage } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const here = dirname(fileURLToPath(import.meta.url));
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

type Hex = `0x${string}`;
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const u8 = (n: number) => new Uint8Array([n]);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return new Uint8Array(b);
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return new Uint8Array(b);
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return new Uint8Array(b);
};
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

// --- Fixed inputs -----------------------------------------------------------------------------

const PRIVATE_KEY: Hex = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const OTHER_KEY: Hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ORIGIN = "wss://relay.example.com";
const NONCE = new Uint8Array(32).map((_, i) => i); // 0x00 01 02 ... 1f
const OTHER_NONCE = new Uint8Array(32).fill(0xaa);
const TIMESTAMP = 1767225600; // 2026-01-01T00:00:00Z
const RELAY_TIME_MS = TIMESTAMP * 1000 + 123;
const MAX_SKEW_S = 30;

const agent = privateKeyToAccount(PRIVATE_KEY);
const other = privateKeyToAccount(OTHER_KEY);
const address = hexToBytes(agent.address);
const publicKey = hexToBytes(agent.publicKey);

/** The signed text (spec: "The signed message"). */
function message(origin: string, checksummed: string, nonce: Uint8Array, ts: number): string {
  return [
    "Agent Relay tunnel login",
    "Version: 1",
    `Origin: ${origin}`,
    `Address: ${checksummed}`,
    `Nonce: 0x${hex(nonce)}`,
    `Timestamp: ${ts}`,
  ].join("\n");
}

// --- Messages, assembled field by field -------------------------------------------------------

function challenge(version: number, nonce: Uint8Array, relayTimeMs: number): Uint8Array {
  return cat(u8(0x01), u8(version), nonce, u64(relayTimeMs));
}

interface AuthFields {
  flags?: number;
  address?: Uint8Array;
  nonce?: Uint8Array;
  timestamp?: number;
  signature: Uint8Array;
  publicKey?: Uint8Array;
  origin?: Uint8Array;
  trailing?: Uint8Array;
}

function auth(f: AuthFields): Uint8Array {
  const origin = f.origin ?? utf8(ORIGIN);
  return cat(
    u8(0x02),
    u8(f.flags ?? (f.publicKey ? 0x01 : 0x00)),
    f.address ?? address,
    f.nonce ?? NONCE,
    u64(f.timestamp ?? TIMESTAMP),
    f.signature,
    f.publicKey ?? new Uint8Array(0),
    u16(origin.byteLength),
    origin,
    f.trailing ?? new Uint8Array(0),
  );
}

function authOk(url: string, maxStreams: number, keepAliveMs: number, maxMessageBytes: number): Uint8Array {
  const u = utf8(url);
  return cat(u8(0x03), u32(maxStreams), u32(keepAliveMs), u32(maxMessageBytes), u16(u.byteLength), u);
}

async function sign(
  account: typeof agent,
  fields: { origin?: string; nonce?: Uint8Array; timestamp?: number; as?: string },
): Promise<Uint8Array> {
  const text = message(
    fields.origin ?? ORIGIN,
    fields.as ?? agent.address,
    fields.nonce ?? NONCE,
    fields.timestamp ?? TIMESTAMP,
  );
  return hexToBytes(await account.signMessage({ message: text }));
}

/** The same signature with s replaced by n - s and v flipped: valid ECDSA, but not low-s. */
function highS(sig: Uint8Array): Uint8Array {
  const s = BigInt(`0x${hex(sig.subarray(32, 64))}`);
  const out = sig.slice();
  out.set(Buffer.from((N - s).toString(16).padStart(64, "0"), "hex"), 32);
  out[64] = sig[64] === 27 ? 28 : 27;
  return out;
}

// --- auth.json: the worked example ------------------------------------------------------------

const text = message(ORIGIN, agent.address, NONCE, TIMESTAMP);
const signature = hexToBytes(await agent.signMessage({ message: text }));
const publicUrl = `https://${agent.address.slice(2).toLowerCase()}.relay.example.com`;

const authVector = {
  description:
    "One complete login, from spec/PROTOCOL.md 'Authentication'. Signature from viem " +
    "(privateKeyToAccount + signMessage); every message assembled field by field.",
  privateKey: PRIVATE_KEY,
  publicKey: agent.publicKey,
  address: agent.address,
  addressLower: agent.address.slice(2).toLowerCase(),
  publicKeyHash: keccak256(publicKey.subarray(1)),
  origin: ORIGIN,
  nonce: `0x${hex(NONCE)}`,
  timestamp: TIMESTAMP,
  relayTimeMs: RELAY_TIME_MS,
  message: text,
  messageHex: toHex(utf8(text)),
  prefixedMessageHex: toPrefixedMessage(text),
  digest: hashMessage(text),
  signature: toHex(signature),
  signatureParts: {
    r: toHex(signature.subarray(0, 32)),
    s: toHex(signature.subarray(32, 64)),
    v: signature[64],
  },
  challenge: toHex(challenge(1, NONCE, RELAY_TIME_MS)),
  authWithPublicKey: toHex(auth({ signature, publicKey })),
  authWithoutPublicKey: toHex(auth({ signature })),
  authOk: {
    publicUrl,
    maxStreams: 4096,
    keepAliveMs: 15000,
    maxMessageBytes: 1048576,
    bytes: toHex(authOk(publicUrl, 4096, 15000, 1048576)),
  },
  relayContext: { allowedOrigins: [ORIGIN], nowS: TIMESTAMP, maxSkewS: MAX_SKEW_S },
};

// --- auth-verdicts.json: what the relay answers to each AUTH ----------------------------------

const CLOSE = {
  bad_message: 4000,
  bad_signature: 4002,
  bad_nonce: 4003,
  clock_skew: 4004,
  wrong_origin: 4005,
  address_mismatch: 4006,
} as const;
type Reason = keyof typeof CLOSE;

interface Case {
  name: string;
  why: string;
  auth: Uint8Array;
  /** The nonce the relay issued on this connection; null once it has been used. */
  expectedNonce?: Uint8Array | null;
  expect: "ok" | Reason;
}

const skewPast = TIMESTAMP - MAX_SKEW_S - 1;
const skewFuture = TIMESTAMP + MAX_SKEW_S + 1;
const byOther = await sign(other, {});
const wrongOrigin = "wss://other-relay.example.com";
const unnormalized = "wss://Relay.Example.com:443";
const truncated = auth({ signature: signature.subarray(0, 64) });
const compressedPrefix = publicKey.slice();
compressedPrefix[0] = 0x02;
const badV = signature.slice();
badV[64] = 1;

const cases: Case[] = [
  { name: "ok-with-public-key", why: "the worked example", auth: auth({ signature, publicKey }), expect: "ok" },
  { name: "ok-without-public-key", why: "the relay recovers the key", auth: auth({ signature }), expect: "ok" },
  {
    name: "ok-skew-at-limit-past",
    why: `timestamp exactly ${MAX_SKEW_S} s behind the relay clock`,
    auth: auth({
      timestamp: TIMESTAMP - MAX_SKEW_S,
      signature: await sign(agent, { timestamp: TIMESTAMP - MAX_SKEW_S }),
      publicKey,
    }),
    expect: "ok",
  },
  {
    name: "ok-skew-at-limit-future",
    why: `timestamp exactly ${MAX_SKEW_S} s ahead of the relay clock`,
    auth: auth({
      timestamp: TIMESTAMP + MAX_SKEW_S,
      signature: await sign(agent, { timestamp: TIMESTAMP + MAX_SKEW_S }),
    }),
    expect: "ok",
  },
  {
    name: "reused-nonce",
    why: "the connection's nonce was already used by an earlier AUTH",
    auth: auth({ signature, publicKey }),
    expectedNonce: null,
    expect: "bad_nonce",
  },
  {
    name: "nonce-from-another-connection",
    why: "a correct signature over a nonce this connection did not issue",
    auth: auth({ nonce: OTHER_NONCE, signature: await sign(agent, { nonce: OTHER_NONCE }), publicKey }),
    expect: "bad_nonce",
  },
  {
    name: "wrong-origin",
    why: "signed for another relay (cross-relay replay)",
    auth: auth({ origin: utf8(wrongOrigin), signature: await sign(agent, { origin: wrongOrigin }), publicKey }),
    expect: "wrong_origin",
  },
  {
    name: "origin-not-normalized",
    why: "origins are compared byte for byte; this one is not in normal form",
    auth: auth({ origin: utf8(unnormalized), signature: await sign(agent, { origin: unnormalized }) }),
    expect: "wrong_origin",
  },
  {
    name: "clock-skew-past",
    why: `timestamp ${MAX_SKEW_S + 1} s behind the relay clock`,
    auth: auth({ timestamp: skewPast, signature: await sign(agent, { timestamp: skewPast }), publicKey }),
    expect: "clock_skew",
  },
  {
    name: "clock-skew-future",
    why: `timestamp ${MAX_SKEW_S + 1} s ahead of the relay clock`,
    auth: auth({ timestamp: skewFuture, signature: await sign(agent, { timestamp: skewFuture }), publicKey }),
    expect: "clock_skew",
  },
  {
    name: "signed-by-another-key",
    why: "the agent's address and public key, but another key signed the same text",
    auth: auth({ signature: byOther, publicKey }),
    expect: "bad_signature",
  },
  {
    name: "signed-by-another-key-without-public-key",
    why: "the signature recovers to another address",
    auth: auth({ signature: byOther }),
    expect: "bad_signature",
  },
  {
    name: "high-s",
    why: "(r, n - s) with v flipped is valid ECDSA but not canonical; only s <= n/2 is accepted",
    auth: auth({ signature: highS(signature), publicKey }),
    expect: "bad_signature",
  },
  {
    name: "high-s-without-public-key",
    why: "the same high-s twin, without the public key",
    auth: auth({ signature: highS(signature) }),
    expect: "bad_signature",
  },
  {
    name: "v-not-27-or-28",
    why: "v must be 27 or 28",
    auth: auth({ signature: badV, publicKey }),
    expect: "bad_signature",
  },
  {
    name: "tampered-timestamp",
    why: "the timestamp field differs by one second from the signed one",
    auth: auth({ timestamp: TIMESTAMP + 1, signature, publicKey }),
    expect: "bad_signature",
  },
  {
    name: "public-key-not-matching-address",
    why: "another agent's public key: keccak256(X || Y) does not end in the address",
    auth: auth({ signature, publicKey: hexToBytes(other.publicKey) }),
    expect: "address_mismatch",
  },
  {
    name: "address-of-another-agent",
    why: "the other agent's address and key, signed by this agent for this agent's address",
    auth: auth({ address: hexToBytes(other.address), signature, publicKey: hexToBytes(other.publicKey) }),
    expect: "bad_signature",
  },
  {
    name: "public-key-not-uncompressed",
    why: "the public key must start with 0x04",
    auth: auth({ signature, publicKey: compressedPrefix }),
    expect: "bad_message",
  },
  {
    name: "truncated-signature",
    why: "64 signature bytes: the first origin-length byte is read as v, so the origin length reads 0x1777, out of range",
    auth: truncated,
    expect: "bad_message",
  },
  {
    name: "unknown-flags",
    why: "flag bit 0x02 is not defined",
    auth: auth({ flags: 0x03, signature, publicKey }),
    expect: "bad_message",
  },
  {
    name: "trailing-bytes",
    why: "one byte after the origin",
    auth: auth({ signature, publicKey, trailing: u8(0) }),
    expect: "bad_message",
  },
  {
    name: "wrong-type",
    why: "a CHALLENGE where AUTH is expected",
    auth: challenge(1, NONCE, RELAY_TIME_MS),
    expect: "bad_message",
  },
  {
    name: "empty-origin",
    why: "origin length 0",
    auth: auth({ signature, origin: new Uint8Array(0) }),
    expect: "bad_message",
  },
  {
    name: "origin-not-utf8",
    why: "the origin bytes are not UTF-8",
    auth: auth({ signature, origin: new Uint8Array([0x77, 0x73, 0xff]) }),
    expect: "bad_message",
  },
  {
    name: "check-order-nonce-first",
    why: "wrong nonce, wrong origin and skewed: the nonce is checked first",
    auth: auth({ nonce: OTHER_NONCE, origin: utf8(wrongOrigin), timestamp: skewPast, signature: byOther }),
    expect: "bad_nonce",
  },
  {
    name: "check-order-origin-before-clock",
    why: "wrong origin and skewed: the origin is checked before the clock",
    auth: auth({ origin: utf8(wrongOrigin), timestamp: skewPast, signature: byOther }),
    expect: "wrong_origin",
  },
  {
    name: "check-order-clock-before-signature",
    why: "skewed and signed by another key: the clock is checked before the signature",
    auth: auth({ timestamp: skewFuture, signature: byOther, publicKey }),
    expect: "clock_skew",
  },
];

const verdicts = {
  description:
    "AUTH messages and the relay's verdict for each (spec/PROTOCOL.md, 'Authentication failures'). " +
    "The relay context is the same for every case unless a case says otherwise: it issued `nonce`, " +
    "answers to `allowedOrigins`, and its clock reads `nowS`. A verdict other than ok closes the " +
    "WebSocket with `closeCode` and a reason that starts with `<reason>: `.",
  context: {
    nonce: `0x${hex(NONCE)}`,
    allowedOrigins: [ORIGIN],
    nowS: TIMESTAMP,
    maxSkewS: MAX_SKEW_S,
  },
  cases: cases.map((c) => ({
    name: c.name,
    why: c.why,
    auth: toHex(c.auth),
    ...(c.expectedNonce !== undefined
      ? { expectedNonce: c.expectedNonce === null ? null : `0x${hex(c.expectedNonce)}` }
      : {}),
    expect: c.expect,
    ...(c.expect === "ok" ? {} : { closeCode: CLOSE[c.expect] }),
  })),
  challenges: [
    { name: "ok", bytes: toHex(challenge(1, NONCE, RELAY_TIME_MS)), expect: "ok" },
    { name: "unsupported-version", bytes: toHex(challenge(2, NONCE, RELAY_TIME_MS)), expect: "refuse" },
    {
      name: "truncated",
      bytes: toHex(challenge(1, NONCE, RELAY_TIME_MS).subarray(0, 41)),
      expect: "refuse",
    },
  ],
};

// --- yamux.json: frame headers ----------------------------------------------------------------

const WINDOW_DELTA = 1024 * 1024 - 256 * 1024;
const T = { data: 0, windowUpdate: 1, ping: 2, goAway: 3 } as const;
const F = { none: 0, syn: 1, ack: 2, fin: 4, rst: 8 } as const;

function header(version: number, type: number, flags: number, streamId: number, length: number): Uint8Array {
  return cat(u8(version), u8(type), u16(flags), u32(streamId), u32(length));
}

const frame = (name: string, sender: string, type: number, flags: number, streamId: number, length: number) => ({
  name,
  sender,
  type,
  flags,
  streamId,
  length,
  hex: toHex(header(0, type, flags, streamId, length)),
});

const yamux = {
  description:
    "yamux v0 frame headers as Agent Relay uses them (spec/PROTOCOL.md, 'Multiplexing'): 12 bytes, " +
    "version u8 | type u8 | flags u16 | stream id u32 | length u32, big-endian.",
  frames: [
    frame("open stream 1 (SYN, window +768 KiB)", "relay", T.windowUpdate, F.syn, 1, WINDOW_DELTA),
    frame("accept stream 1 (ACK, window +768 KiB)", "peer", T.windowUpdate, F.ack, 1, WINDOW_DELTA),
    frame("accept stream 1 (ACK, no window change)", "peer", T.windowUpdate, F.ack, 1, 0),
    frame("data, 5 bytes follow", "either", T.data, F.none, 1, 5),
    frame("window credit, half a window", "either", T.windowUpdate, F.none, 1, 512 * 1024),
    frame("FIN: no more data in this direction", "either", T.windowUpdate, F.fin, 1, 0),
    frame("RST: abort the stream", "either", T.windowUpdate, F.rst, 1, 0),
    frame("RST answering a SYN from the peer", "relay", T.windowUpdate, F.rst, 2, 0),
    frame("ping", "either", T.ping, F.syn, 0, 1),
    frame("ping answer", "either", T.ping, F.ack, 0, 1),
    frame("GoAway 0: normal", "either", T.goAway, F.none, 0, 0),
    frame("GoAway 1: protocol error", "either", T.goAway, F.none, 0, 1),
    frame("GoAway 2: internal error", "either", T.goAway, F.none, 0, 2),
    frame("GoAway 3: restarting, reconnect now", "relay", T.goAway, F.none, 0, 3),
    frame("GoAway 4: superseded, do not reconnect", "relay", T.goAway, F.none, 0, 4),
  ],
  dataFrameWithPayload: {
    name: "data frame carrying 'hello' on stream 1",
    hex: toHex(cat(header(0, T.data, F.none, 1, 5), utf8("hello"))),
  },
  badHeaders: [
    { name: "version 1", hex: toHex(header(1, T.data, F.none, 1, 0)), expect: "protocol_error" },
    { name: "type 4", hex: toHex(header(0, 4, F.none, 1, 0)), expect: "protocol_error" },
    { name: "unknown flag 0x10", hex: toHex(header(0, T.windowUpdate, 0x10, 1, 0)), expect: "protocol_error" },
  ],
  badSequences: [
    {
      name: "GoAway on a stream",
      hex: toHex(header(0, T.goAway, F.none, 1, 0)),
      expect: "protocol_error",
    },
    { name: "ping on a stream", hex: toHex(header(0, T.ping, F.syn, 1, 1)), expect: "protocol_error" },
    { name: "ping without SYN or ACK", hex: toHex(header(0, T.ping, F.none, 0, 1)), expect: "protocol_error" },
    {
      name: "window update on stream 0",
      hex: toHex(header(0, T.windowUpdate, F.none, 0, 1)),
      expect: "protocol_error",
    },
    {
      name: "data on a stream the relay never opened",
      hex: toHex(cat(header(0, T.data, F.none, 7, 1), u8(0))),
      expect: "protocol_error",
    },
    {
      name: "peer opens a stream with an odd id (the relay's parity)",
      hex: toHex(header(0, T.windowUpdate, F.syn, 1, 0)),
      expect: "protocol_error",
    },
    {
      name: "peer opens stream 2: refused with RST, the session stays up",
      hex: toHex(header(0, T.windowUpdate, F.syn, 2, 0)),
      expect: "rst",
      reply: toHex(header(0, T.windowUpdate, F.rst, 2, 0)),
    },
  ],
};

// --- noise.json: the secure channel, with fixed keys -------------------------------------------

/** X25519 keys from raw 32-byte private keys (PKCS#8 / SPKI wrappers of RFC 8410). */
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");
const x25519Private = (raw: Uint8Array): KeyObject =>
  createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: "der", type: "pkcs8" });
const x25519Public = (raw: Uint8Array): KeyObject =>
  createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: "der", type: "spki" });
const publicOf = (raw: Uint8Array): Uint8Array =>
  new Uint8Array(createPublicKey(x25519Private(raw)).export({ format: "der", type: "spki" }).subarray(12));
const dh = (priv: Uint8Array, pub: Uint8Array): Uint8Array =>
  new Uint8Array(diffieHellman({ privateKey: x25519Private(priv), publicKey: x25519Public(pub) }));
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const hmac = (key: Uint8Array, ...parts: Uint8Array[]): Uint8Array => {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
/** Noise HKDF with two outputs. */
function hkdf2(ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const temp = hmac(ck, ikm);
  const out1 = hmac(temp, u8(1));
  return [out1, hmac(temp, out1, u8(2))];
}
/** ChaCha20-Poly1305 with the Noise nonce: 4 zero bytes, then the counter as 64-bit little-endian. */
function seal(k: Uint8Array, n: number, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(BigInt(n), 4);
  const c = createCipheriv("chacha20-poly1305", k, nonce, { authTagLength: 16 });
  c.setAAD(ad, { plaintextLength: plaintext.byteLength });
  return cat(c.update(plaintext), c.final(), c.getAuthTag());
}

const NOISE_NAME = "Noise_XX_25519_ChaChaPoly_SHA256";
const PROLOGUE = "agent-relay.v1+noise";
const fixedKey = (label: string) => sha256(utf8(`agent-relay spec vector: ${label}`));
const keys = {
  peerStatic: fixedKey("peer static"),
  peerEphemeral: fixedKey("peer ephemeral"),
  relayStatic: fixedKey("relay static"),
  relayEphemeral: fixedKey("relay ephemeral"),
};

/** The XX handshake of the Noise spec, both roles in one transcript (so one h, one ck, one k). */
function xx() {
  let h = utf8(NOISE_NAME); // exactly 32 bytes: h = the name, no hashing
  let ck = h;
  let k: Uint8Array | undefined;
  let n = 0;
  const mixHash = (data: Uint8Array) => {
    h = sha256(h, data);
  };
  const mixKey = (ikm: Uint8Array) => {
    [ck, k] = hkdf2(ck, ikm);
    n = 0;
  };
  const encryptAndHash = (p: Uint8Array): Uint8Array => {
    const c = k ? seal(k, n++, h, p) : p;
    mixHash(c);
    return c;
  };
  const ie = publicOf(keys.peerEphemeral);
  const is = publicOf(keys.peerStatic);
  const re = publicOf(keys.relayEphemeral);
  const rs = publicOf(keys.relayStatic);
  const empty = new Uint8Array(0);
  mixHash(utf8(PROLOGUE));
  // -> e
  mixHash(ie);
  const message1 = cat(ie, encryptAndHash(empty));
  // <- e, ee, s, es
  mixHash(re);
  mixKey(dh(keys.relayEphemeral, ie));
  const sCipher = encryptAndHash(rs);
  mixKey(dh(keys.relayStatic, ie));
  const message2 = cat(re, sCipher, encryptAndHash(empty));
  // -> s, se
  const sCipher3 = encryptAndHash(is);
  mixKey(dh(keys.peerStatic, re));
  const message3 = cat(sCipher3, encryptAndHash(empty));
  const [k1, k2] = hkdf2(ck, empty);
  return { message1, message2, message3, handshakeHash: h, k1, k2 };
}

const hs = xx();
const NOISE_ORIGIN = "ws://relay.example.com:8080";
const noiseText = `${message(NOISE_ORIGIN, agent.address, NONCE, TIMESTAMP)}\nChannel: 0x${hex(hs.handshakeHash)}`;
const noiseSignature = hexToBytes(await agent.signMessage({ message: noiseText }));
const noiseUrl = `http://${agent.address.slice(2).toLowerCase()}.relay.example.com:8080`;
const plainSignature = hexToBytes(
  await agent.signMessage({ message: message(NOISE_ORIGIN, agent.address, NONCE, TIMESTAMP) }),
);
const otherHash = sha256(utf8("another handshake"));
const otherChannelSignature = hexToBytes(
  await agent.signMessage({
    message: `${message(NOISE_ORIGIN, agent.address, NONCE, TIMESTAMP)}\nChannel: 0x${hex(otherHash)}`,
  }),
);
const noiseChallenge = challenge(1, NONCE, RELAY_TIME_MS);
const noiseAuth = auth({ origin: utf8(NOISE_ORIGIN), signature: noiseSignature, publicKey });
const noiseAuthOk = authOk(noiseUrl, 4096, 15000, 1048576);
const flip = (b: Uint8Array, at: number): Uint8Array => {
  const out = b.slice();
  out[at]! ^= 0x01;
  return out;
};

const noise = {
  description:
    "The secure channel (spec/PROTOCOL.md, 'Secure channel'): a Noise XX handshake with fixed keys " +
    "(real peers and relays draw every key at random), the transport messages that follow it, and the " +
    "login bound to the handshake hash. Written from the Noise specification with node:crypto; keys " +
    "are raw 32-byte X25519 keys, `k1` encrypts peer -> relay and `k2` relay -> peer.",
  protocolName: NOISE_NAME,
  prologue: PROLOGUE,
  prologueHex: toHex(utf8(PROLOGUE)),
  keys: {
    peerStatic: { private: toHex(keys.peerStatic), public: toHex(publicOf(keys.peerStatic)) },
    peerEphemeral: { private: toHex(keys.peerEphemeral), public: toHex(publicOf(keys.peerEphemeral)) },
    relayStatic: { private: toHex(keys.relayStatic), public: toHex(publicOf(keys.relayStatic)) },
    relayEphemeral: { private: toHex(keys.relayEphemeral), public: toHex(publicOf(keys.relayEphemeral)) },
  },
  handshake: {
    message1: toHex(hs.message1),
    message2: toHex(hs.message2),
    message3: toHex(hs.message3),
    handshakeHash: toHex(hs.handshakeHash),
    k1: toHex(hs.k1),
    k2: toHex(hs.k2),
  },
  login: {
    origin: NOISE_ORIGIN,
    nonce: `0x${hex(NONCE)}`,
    timestamp: TIMESTAMP,
    message: noiseText,
    digest: hashMessage(noiseText),
    signature: toHex(noiseSignature),
    relayContext: { allowedOrigins: [NOISE_ORIGIN], nowS: TIMESTAMP, maxSkewS: MAX_SKEW_S },
  },
  transport: [
    { sender: "relay", key: "k2", n: 0, name: "CHALLENGE", plaintext: toHex(noiseChallenge) },
    { sender: "peer", key: "k1", n: 0, name: "AUTH (with public key)", plaintext: toHex(noiseAuth) },
    { sender: "relay", key: "k2", n: 1, name: "AUTH_OK", plaintext: toHex(noiseAuthOk) },
  ].map((m) => ({
    ...m,
    ciphertext: toHex(
      seal(m.key === "k1" ? hs.k1 : hs.k2, m.n, new Uint8Array(0), hexToBytes(m.plaintext as Hex)),
    ),
  })),
  badHandshakes: [
    {
      name: "message 1 shorter than a key",
      step: "relay reads message 1",
      message1: toHex(hs.message1.subarray(0, 31)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
    {
      name: "message 1 carries a low-order key (all zeros): the relay's ee DH gives zero",
      step: "relay writes message 2",
      message1: toHex(new Uint8Array(32)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
    {
      name: "message 3 with one bit flipped in the encrypted static key",
      step: "relay reads message 3",
      message3: toHex(flip(hs.message3, 5)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
    {
      name: "message 3 with one bit flipped in the payload tag",
      step: "relay reads message 3",
      message3: toHex(flip(hs.message3, 63)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
    {
      name: "message 2 with one bit flipped in the relay's encrypted static key",
      step: "peer reads message 2",
      message2: toHex(flip(hs.message2, 40)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
  ],
  badTransport: [
    {
      name: "AUTH with one bit flipped in its ciphertext",
      key: "k1",
      n: 0,
      ciphertext: toHex(flip(seal(hs.k1, 0, new Uint8Array(0), noiseAuth), 10)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
    {
      name: "AUTH encrypted under the counter of a later message (n = 1 where 0 is due)",
      key: "k1",
      n: 0,
      ciphertext: toHex(seal(hs.k1, 1, new Uint8Array(0), noiseAuth)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
    {
      name: "AUTH encrypted with the relay's direction key",
      key: "k1",
      n: 0,
      ciphertext: toHex(seal(hs.k2, 0, new Uint8Array(0), noiseAuth)),
      expect: "secure_channel_error",
      closeCode: 4105,
    },
  ],
  badLogins: [
    {
      name: "signed without the Channel line (a plain-connection login) inside the channel",
      auth: toHex(auth({ origin: utf8(NOISE_ORIGIN), signature: plainSignature, publicKey })),
      expect: "bad_signature",
      closeCode: 4002,
    },
    {
      name: "bound to another handshake's hash",
      auth: toHex(auth({ origin: utf8(NOISE_ORIGIN), signature: otherChannelSignature, publicKey })),
      expect: "bad_signature",
      closeCode: 4002,
    },
  ],
};

// --- errors.json: the code tables -------------------------------------------------------------

const errors = {
  description: "Close codes, GoAway codes and HTTP errors (spec/PROTOCOL.md, 'Errors').",
  closeCodes: {
    unsupported_data: 1003,
    message_too_big: 1009,
    restarting: 1012,
    bad_message: 4000,
    auth_timeout: 4001,
    bad_signature: 4002,
    bad_nonce: 4003,
    clock_skew: 4004,
    wrong_origin: 4005,
    address_mismatch: 4006,
    superseded: 4100,
    protocol_error: 4101,
    keepalive_timeout: 4102,
    limit_exceeded: 4103,
    internal_error: 4104,
    secure_channel_error: 4105,
  },
  doNotReconnect: ["bad_signature", "wrong_origin", "address_mismatch", "superseded"],
  goAwayCodes: { normal: 0, protocol_error: 1, internal_error: 2, restarting: 3, superseded: 4 },
  http: {
    bad_request: 400,
    invalid_subdomain: 400,
    not_found: 404,
    unsupported_protocol: 426,
    request_header_too_large: 431,
    agent_offline: 502,
    local_unreachable: 502,
    tunnel_error: 502,
    bad_response: 502,
    tunnel_busy: 503,
    peer_busy: 503,
    request_timeout: 408,
    body_too_large: 413,
    rate_limited: 429,
    connect_rate_limited: 429,
    too_many_pending: 429,
    draining: 503,
    gateway_timeout: 504,
    idle_timeout: 504,
  },
};

function write(name: string, value: unknown): void {
  writeFileSync(join(here, name), `${JSON.stringify(value, null, 2)}\n`);
  console.log(`wrote spec/vectors/${name}`);
}

write("auth.json", authVector);
write("auth-verdicts.json", verdicts);
write("yamux.json", yamux);
write("noise.json", noise);
write("errors.json", errors);
