/**
 * Every vector in spec/vectors/ against the code: message builder, digest, signer, codecs, verifier,
 * the Noise handshake and transport, yamux header codec and session checks, and the error tables
 * (including the one in PROTOCOL.md).
 * The vectors are generated independently of src/ (spec/vectors/generate.ts).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AgentIdentity } from "../../src/peer/identity.ts";
import {
  decodeAuth,
  decodeAuthOk,
  decodeChallenge,
  encodeAuth,
  encodeAuthOk,
  encodeChallenge,
} from "../../src/protocol/auth-codec.ts";
import {
  addressOfPublicKey,
  buildAuthMessage,
  checksumAddress,
  eip191Digest,
  normalizeOrigin,
  parseAddress,
} from "../../src/protocol/auth-message.ts";
import { type AuthVerdict, verifyAuth } from "../../src/protocol/auth-verify.ts";
import { MAX_CLOCK_SKEW_S, PROTOCOL_VERSION, SUBPROTOCOL_NOISE } from "../../src/protocol/constants.ts";
import { CLOSE_CODES, type CloseReason, FATAL_CLOSE_CODES, HTTP_ERRORS } from "../../src/protocol/errors.ts";
import { CipherState, NoiseError, noiseCrypto, XXHandshake } from "../../src/transport/noise.ts";
import { decodeHeader, encodeHeader, GoAwayCode } from "../../src/yamux/frame.ts";
import { Session, type SessionClosedError } from "../../src/yamux/session.ts";

const dir = new URL("../../spec/", import.meta.url);
const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(`vectors/${name}`, dir), "utf8")) as T;
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, ""), "hex"));
const hex = (b: Uint8Array): string => `0x${Buffer.from(b).toString("hex")}`;

interface AuthVector {
  privateKey: string;
  publicKey: string;
  address: string;
  addressLower: string;
  publicKeyHash: string;
  origin: string;
  nonce: string;
  timestamp: number;
  relayTimeMs: number;
  message: string;
  messageHex: string;
  prefixedMessageHex: string;
  digest: string;
  signature: string;
  challenge: string;
  authWithPublicKey: string;
  authWithoutPublicKey: string;
  authOk: {
    publicUrl: string;
    maxStreams: number;
    keepAliveMs: number;
    maxMessageBytes: number;
    bytes: string;
  };
  relayContext: { allowedOrigins: string[]; nowS: number; maxSkewS: number };
}

interface VerdictVectors {
  context: { nonce: string; allowedOrigins: string[]; nowS: number; maxSkewS: number };
  cases: Array<{
    name: string;
    auth: string;
    expectedNonce?: string | null;
    expect: "ok" | CloseReason;
    closeCode?: number;
  }>;
  challenges: Array<{ name: string; bytes: string; expect: "ok" | "refuse" }>;
}

interface FrameVector {
  name: string;
  type: number;
  flags: number;
  streamId: number;
  length: number;
  hex: string;
}

interface YamuxVectors {
  frames: FrameVector[];
  dataFrameWithPayload: { hex: string };
  badHeaders: Array<{ name: string; hex: string }>;
  badSequences: Array<{ name: string; hex: string; expect: "protocol_error" | "rst"; reply?: string }>;
}

interface ErrorVectors {
  closeCodes: Record<string, number>;
  doNotReconnect: string[];
  goAwayCodes: Record<string, number>;
  http: Record<string, number>;
}

interface KeyVector {
  private: string;
  public: string;
}

interface NoiseVectors {
  protocolName: string;
  prologue: string;
  prologueHex: string;
  keys: Record<"peerStatic" | "peerEphemeral" | "relayStatic" | "relayEphemeral", KeyVector>;
  handshake: Record<"message1" | "message2" | "message3" | "handshakeHash" | "k1" | "k2", string>;
  login: {
    origin: string;
    nonce: string;
    timestamp: number;
    message: string;
    digest: string;
    signature: string;
    relayContext: { allowedOrigins: string[]; nowS: number; maxSkewS: number };
  };
  transport: Array<{
    sender: "relay" | "peer";
    key: "k1" | "k2";
    n: number;
    name: string;
    plaintext: string;
    ciphertext: string;
  }>;
  badHandshakes: Array<{
    name: string;
    step:
      | "relay reads message 1"
      | "relay writes message 2"
      | "relay reads message 3"
      | "peer reads message 2";
    message1?: string;
    message2?: string;
    message3?: string;
    expect: CloseReason;
    closeCode: number;
  }>;
  badTransport: Array<{
    name: string;
    key: "k1" | "k2";
    n: number;
    ciphertext: string;
    expect: CloseReason;
    closeCode: number;
  }>;
  badLogins: Array<{ name: string; auth: string; expect: CloseReason; closeCode: number }>;
}

const crypto = await noiseCrypto();
const v = load<AuthVector>("auth.json");
const fields = {
  origin: v.origin,
  address: bytes(v.address),
  nonce: bytes(v.nonce),
  timestamp: v.timestamp,
};

describe("auth.json: the worked login", () => {
  it("builds the exact message text, bytes and EIP-191 digest", () => {
    const text = buildAuthMessage(fields);
    expect(text).toBe(v.message);
    expect(hex(new TextEncoder().encode(text))).toBe(v.messageHex);
    expect(hex(eip191Digest(text))).toBe(v.digest);
    expect(
      hex(
        new TextEncoder().encode(
          `\x19Ethereum Signed Message:\n${new TextEncoder().encode(text).byteLength}${text}`,
        ),
      ),
    ).toBe(v.prefixedMessageHex);
    expect(normalizeOrigin(v.origin)).toBe(v.origin);
  });

  it("derives the public key and checksummed address, and signs exactly as viem does", () => {
    const id = AgentIdentity.fromHex(v.privateKey);
    expect(hex(id.publicKey)).toBe(v.publicKey);
    expect(id.checksumAddress).toBe(v.address);
    expect(id.hexAddress).toBe(v.addressLower);
    expect(checksumAddress(parseAddress(v.address.toLowerCase())!)).toBe(v.address);
    expect(hex(addressOfPublicKey(bytes(v.publicKey)))).toBe(`0x${v.publicKeyHash.slice(-40)}`);
    expect(hex(id.signMessage(v.message))).toBe(v.signature);
  });

  it("encodes and decodes CHALLENGE, AUTH (with and without key) and AUTH_OK byte for byte", () => {
    expect(
      hex(encodeChallenge({ version: PROTOCOL_VERSION, nonce: fields.nonce, relayTimeMs: v.relayTimeMs })),
    ).toBe(v.challenge);
    expect(decodeChallenge(bytes(v.challenge))).toEqual({
      version: 1,
      nonce: fields.nonce,
      relayTimeMs: v.relayTimeMs,
    });

    const req = {
      address: fields.address,
      nonce: fields.nonce,
      timestamp: v.timestamp,
      signature: bytes(v.signature),
      origin: v.origin,
    };
    expect(hex(encodeAuth({ ...req, publicKey: bytes(v.publicKey) }))).toBe(v.authWithPublicKey);
    expect(hex(encodeAuth(req))).toBe(v.authWithoutPublicKey);
    expect(decodeAuth(bytes(v.authWithPublicKey))).toEqual({ ...req, publicKey: bytes(v.publicKey) });
    expect(decodeAuth(bytes(v.authWithoutPublicKey))).toEqual(req);

    const { bytes: okBytes, ...ok } = v.authOk;
    expect(hex(encodeAuthOk(ok))).toBe(okBytes);
    expect(decodeAuthOk(bytes(okBytes))).toEqual(ok);
  });

  it("verifies both AUTH forms in the relay's context", () => {
    for (const auth of [v.authWithPublicKey, v.authWithoutPublicKey]) {
      const verdict = verifyAuth(decodeAuth(bytes(auth)), {
        expectedNonce: fields.nonce,
        allowedOrigins: new Set(v.relayContext.allowedOrigins),
        nowS: v.relayContext.nowS,
        maxSkewS: v.relayContext.maxSkewS,
      });
      expect(verdict).toEqual({ ok: true, address: fields.address });
    }
    expect(v.relayContext.maxSkewS).toBe(MAX_CLOCK_SKEW_S);
  });
});

describe("auth-verdicts.json: the relay's answer to each AUTH", () => {
  const vv = load<VerdictVectors>("auth-verdicts.json");

  /** What the relay does with one AUTH message: decode, then verify (tunnel-endpoint.ts). */
  function judge(c: VerdictVectors["cases"][number]): AuthVerdict {
    let req: ReturnType<typeof decodeAuth>;
    try {
      req = decodeAuth(bytes(c.auth));
    } catch {
      return { ok: false, reason: "bad_message", detail: "undecodable" };
    }
    const expectedNonce =
      c.expectedNonce === undefined
        ? bytes(vv.context.nonce)
        : c.expectedNonce === null
          ? undefined
          : bytes(c.expectedNonce);
    return verifyAuth(req, {
      expectedNonce,
      allowedOrigins: new Set(vv.context.allowedOrigins),
      nowS: vv.context.nowS,
      maxSkewS: vv.context.maxSkewS,
    });
  }

  it("has the cases the spec lists", () => {
    const names = vv.cases.map((c) => c.name);
    for (const required of [
      "reused-nonce",
      "wrong-origin",
      "clock-skew-past",
      "clock-skew-future",
      "signed-by-another-key",
      "truncated-signature",
      "high-s",
      "public-key-not-matching-address",
      "unknown-flags",
      "trailing-bytes",
    ]) {
      expect(names).toContain(required);
    }
  });

  for (const c of vv.cases) {
    it(`${c.name} → ${c.expect}`, () => {
      const verdict = judge(c);
      if (c.expect === "ok") {
        expect(verdict.ok, verdict.ok ? "" : `${verdict.reason}: ${verdict.detail}`).toBe(true);
        return;
      }
      expect(verdict.ok ? "ok" : verdict.reason).toBe(c.expect);
      expect(CLOSE_CODES[c.expect]).toBe(c.closeCode);
    });
  }

  it("CHALLENGE: version 1 decodes, anything else is refused", () => {
    for (const c of vv.challenges) {
      const outcome = (() => {
        try {
          decodeChallenge(bytes(c.bytes));
          return "ok";
        } catch {
          return "refuse";
        }
      })();
      expect(outcome, c.name).toBe(c.expect);
    }
  });
});

describe("noise.json: the secure channel with fixed keys", () => {
  const nv = load<NoiseVectors>("noise.json");
  const key = (k: KeyVector) => ({ privateKey: bytes(k.private), publicKey: bytes(k.public) });
  const peer = () =>
    new XXHandshake(true, crypto, {
      staticKey: key(nv.keys.peerStatic),
      ephemeralKey: key(nv.keys.peerEphemeral),
    });
  const relay = () =>
    new XXHandshake(false, crypto, {
      staticKey: key(nv.keys.relayStatic),
      ephemeralKey: key(nv.keys.relayEphemeral),
    });
  const h = nv.handshake;

  /** Both roles through the whole handshake, checking every message against the vectors. */
  function handshake(): { p: XXHandshake; r: XXHandshake } {
    const p = peer();
    const r = relay();
    const m1 = p.writeMessage();
    expect(hex(m1)).toBe(h.message1);
    expect(r.readMessage(m1).byteLength).toBe(0);
    const m2 = r.writeMessage();
    expect(hex(m2)).toBe(h.message2);
    expect(p.readMessage(m2).byteLength).toBe(0);
    const m3 = p.writeMessage();
    expect(hex(m3)).toBe(h.message3);
    expect(r.readMessage(m3).byteLength).toBe(0);
    return { p, r };
  }

  it("names the protocol and prologue the code uses, and the keys are X25519 pairs", () => {
    expect(nv.protocolName).toBe("Noise_XX_25519_ChaChaPoly_SHA256");
    expect(nv.prologue).toBe(SUBPROTOCOL_NOISE);
    expect(hex(new TextEncoder().encode(nv.prologue))).toBe(nv.prologueHex);
    for (const k of Object.values(nv.keys)) {
      expect(hex(crypto.generateX25519KeyPairFromSeed(bytes(k.private)).publicKey)).toBe(k.public);
    }
  });

  it("runs the handshake byte for byte: messages of 32, 96 and 64 bytes, one handshake hash", () => {
    const { p, r } = handshake();
    expect([h.message1, h.message2, h.message3].map((m) => bytes(m).byteLength)).toEqual([32, 96, 64]);
    expect(p.complete && r.complete).toBe(true);
    expect(hex(p.handshakeHash)).toBe(h.handshakeHash);
    expect(hex(r.handshakeHash)).toBe(h.handshakeHash);
    expect(hex(p.remoteStaticKey!)).toBe(nv.keys.relayStatic.public);
    expect(hex(r.remoteStaticKey!)).toBe(nv.keys.peerStatic.public);
  });

  it("encrypts and decrypts the transport messages: k1 peer → relay, k2 relay → peer, counters from 0", () => {
    const { p, r } = handshake();
    const ps = p.split();
    const rs = r.split();
    const k = { k1: new CipherState(crypto, bytes(h.k1)), k2: new CipherState(crypto, bytes(h.k2)) };
    const empty = new Uint8Array(0);
    for (const m of nv.transport) {
      const [send, recv] = m.sender === "peer" ? [ps.send, rs.recv] : [rs.send, ps.recv];
      expect(hex(send.encryptWithAd(empty, bytes(m.plaintext))), m.name).toBe(m.ciphertext);
      expect(hex(recv.decryptWithAd(empty, bytes(m.ciphertext))), m.name).toBe(m.plaintext);
      expect(hex(k[m.key].encryptWithAd(empty, bytes(m.plaintext))), `${m.name} with ${m.key}`).toBe(
        m.ciphertext,
      );
    }
  });

  it("binds the login to the handshake hash: the Channel line, digest, signature and verdict", () => {
    const l = nv.login;
    const text = buildAuthMessage({
      origin: l.origin,
      address: fields.address,
      nonce: bytes(l.nonce),
      timestamp: l.timestamp,
      channelBinding: bytes(h.handshakeHash),
    });
    expect(text).toBe(l.message);
    expect(text.split("\n").at(-1)).toBe(`Channel: ${h.handshakeHash}`);
    expect(hex(eip191Digest(text))).toBe(l.digest);
    expect(hex(AgentIdentity.fromHex(v.privateKey).signMessage(text))).toBe(l.signature);
    const authBytes = bytes(nv.transport.find((m) => m.name.startsWith("AUTH "))!.plaintext);
    const ctx = {
      expectedNonce: bytes(l.nonce),
      allowedOrigins: new Set(l.relayContext.allowedOrigins),
      nowS: l.relayContext.nowS,
      maxSkewS: l.relayContext.maxSkewS,
    };
    const req = decodeAuth(authBytes);
    expect(hex(req.signature)).toBe(l.signature);
    expect(verifyAuth(req, { ...ctx, channelBinding: bytes(h.handshakeHash) })).toEqual({
      ok: true,
      address: fields.address,
    });
    // The same AUTH on a plain connection: the relay rebuilds the text without the Channel line.
    const plain = verifyAuth(req, ctx);
    expect(plain.ok ? "ok" : plain.reason).toBe("bad_signature");
    for (const b of nv.badLogins) {
      const verdict = verifyAuth(decodeAuth(bytes(b.auth)), {
        ...ctx,
        channelBinding: bytes(h.handshakeHash),
      });
      expect(verdict.ok ? "ok" : verdict.reason, b.name).toBe(b.expect);
      expect(CLOSE_CODES[b.expect], b.name).toBe(b.closeCode);
    }
  });

  it("fails every bad handshake message (the relay closes with 4105)", () => {
    for (const b of nv.badHandshakes) {
      expect(CLOSE_CODES[b.expect], b.name).toBe(b.closeCode);
      const attempt = (): void => {
        if (b.step === "relay reads message 1") relay().readMessage(bytes(b.message1!));
        else if (b.step === "relay writes message 2") {
          const r = relay();
          r.readMessage(bytes(b.message1!));
          r.writeMessage();
        } else if (b.step === "relay reads message 3") {
          const r = relay();
          const p = peer();
          r.readMessage(p.writeMessage());
          p.readMessage(r.writeMessage());
          r.readMessage(bytes(b.message3!));
        } else {
          const p = peer();
          p.writeMessage();
          p.readMessage(bytes(b.message2!));
        }
      };
      expect(attempt, b.name).toThrow();
    }
  });

  it("fails every bad transport message", () => {
    for (const b of nv.badTransport) {
      expect(CLOSE_CODES[b.expect], b.name).toBe(b.closeCode);
      const c = new CipherState(crypto, bytes(h[b.key]));
      for (let i = 0; i < b.n; i++) c.encryptWithAd(new Uint8Array(0), new Uint8Array(0));
      expect(() => c.decryptWithAd(new Uint8Array(0), bytes(b.ciphertext)), b.name).toThrow(NoiseError);
    }
  });
});

describe("yamux.json: frame headers and session checks", () => {
  const y = load<YamuxVectors>("yamux.json");

  it("encodes and decodes every frame header the spec uses", () => {
    for (const f of y.frames) {
      expect(hex(encodeHeader(f.type, f.flags, f.streamId, f.length)), f.name).toBe(f.hex);
      expect(decodeHeader(bytes(f.hex), 0), f.name).toEqual({
        type: f.type,
        flags: f.flags,
        streamId: f.streamId,
        length: f.length,
      });
    }
    const withPayload = bytes(y.dataFrameWithPayload.hex);
    expect(decodeHeader(withPayload, 0).length).toBe(withPayload.byteLength - 12);
  });

  it("rejects a bad version, type or flag in the header", () => {
    for (const b of y.badHeaders) expect(() => decodeHeader(bytes(b.hex), 0), b.name).toThrow();
  });

  /** A relay-side session (opens odd streams, accepts none) fed one frame. */
  async function feedRelay(frame: Uint8Array): Promise<{ closed?: SessionClosedError; sent: Buffer }> {
    const sent: Buffer[] = [];
    const session = new Session(
      {
        send: (data, cb) => {
          sent.push(Buffer.from(data));
          setImmediate(cb);
        },
      },
      "opener",
      { acceptStreams: false, keepAliveIntervalMs: 0 },
    );
    let closed: SessionClosedError | undefined;
    session.on("close", (err) => (closed = err));
    session.receive(Buffer.from(frame));
    await new Promise((resolve) => setImmediate(resolve));
    const out = { sent: Buffer.concat(sent), ...(closed ? { closed } : {}) };
    session.close();
    return out;
  }

  for (const seq of load<YamuxVectors>("yamux.json").badSequences) {
    it(`relay session: ${seq.name} → ${seq.expect}`, async () => {
      const { closed, sent } = await feedRelay(bytes(seq.hex));
      if (seq.expect === "protocol_error") {
        expect(closed?.reason).toBe("protocol_error");
        // GoAway 1 goes out before the session closes.
        expect(hex(sent.subarray(0, 12))).toBe(hex(encodeHeader(3, 0, 0, GoAwayCode.ProtocolError)));
      } else {
        expect(closed).toBeUndefined();
        expect(hex(sent)).toBe(seq.reply);
      }
    });
  }
});

describe("errors.json and the tables in PROTOCOL.md", () => {
  const e = load<ErrorVectors>("errors.json");

  it("every close code, GoAway code and HTTP status in the vectors matches the code", () => {
    const closeCodes: Record<string, number> = CLOSE_CODES;
    for (const [reason, code] of Object.entries(e.closeCodes)) expect(closeCodes[reason], reason).toBe(code);
    expect([...FATAL_CLOSE_CODES].sort()).toEqual(e.doNotReconnect.map((r) => e.closeCodes[r]).sort());
    expect({
      normal: GoAwayCode.Normal,
      protocol_error: GoAwayCode.ProtocolError,
      internal_error: GoAwayCode.InternalError,
      restarting: GoAwayCode.Restarting,
      superseded: GoAwayCode.Superseded,
    }).toEqual(e.goAwayCodes);
    // Every HTTP error in the vectors exists with that status (the code may have more; the test below
    // makes sure PROTOCOL.md lists those too).
    const statuses: Record<string, number> = Object.fromEntries(
      Object.entries(HTTP_ERRORS).map(([k, x]) => [k, x.status]),
    );
    for (const [code, status] of Object.entries(e.http)) expect(statuses[code], code).toBe(status);
  });

  it("PROTOCOL.md lists every close code and HTTP error with the same number", () => {
    const spec = readFileSync(new URL("PROTOCOL.md", dir), "utf8");
    for (const [reason, code] of Object.entries(CLOSE_CODES)) {
      expect(spec, `close ${code} ${reason}`).toMatch(new RegExp(`\\| ${code} \\| \`${reason}\` \\|`));
    }
    for (const [code, { status }] of Object.entries(HTTP_ERRORS)) {
      expect(spec, `HTTP ${status} ${code}`).toMatch(new RegExp(`\\| ${status} \\| \`${code}\` \\|`));
    }
  });
});
