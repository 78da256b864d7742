import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Uint8ArrayList } from "uint8arraylist";
import { describe, expect, it } from "vitest";
import {
  NOISE_PROLOGUE,
  NOISE_PROTOCOL_NAME,
  NoiseError,
  noiseCrypto,
  XXHandshake,
} from "../../src/transport/noise.ts";

interface RefCipher {
  encryptWithAd(ad: Uint8Array, p: Uint8Array): Uint8Array;
  decryptWithAd(ad: Uint8Array, c: Uint8Array): Uint8Array | Uint8ArrayList;
}

// libp2p-noise's own XX state machine, an independent implementation, loaded from its files (it is
// not part of the package's public exports).
const dist = join(
  import.meta.dirname,
  "..",
  "..",
  "node_modules",
  "@chainsafe",
  "libp2p-noise",
  "dist",
  "src",
);
const ref = (await import(pathToFileURL(join(dist, "protocol.js")).href)) as {
  XXHandshakeState: new (
    init: object,
  ) => {
    writeMessageA(p: Uint8Array): Uint8ArrayList;
    writeMessageB(p: Uint8Array): Uint8ArrayList;
    writeMessageC(p: Uint8Array): Uint8ArrayList;
    readMessageA(m: Uint8ArrayList): Uint8Array | Uint8ArrayList;
    readMessageB(m: Uint8ArrayList): Uint8Array | Uint8ArrayList;
    readMessageC(m: Uint8ArrayList): Uint8Array | Uint8ArrayList;
    ss: {
      h: Uint8Array;
      split(): [RefCipher, RefCipher];
    };
  };
};
const { wrapCrypto } = (await import(pathToFileURL(join(dist, "crypto.js")).href)) as {
  wrapCrypto: (c: object) => object;
};

const crypto = await noiseCrypto();
const prologue = new TextEncoder().encode(NOISE_PROLOGUE);
const bytes = (x: Uint8Array | Uint8ArrayList) => Buffer.from(x.subarray());

function refState(initiator: boolean) {
  return new ref.XXHandshakeState({
    crypto: wrapCrypto(crypto),
    protocolName: NOISE_PROTOCOL_NAME,
    prologue,
    initiator,
    s: crypto.generateX25519KeyPair(),
  });
}

describe("Noise XX", () => {
  it("completes between two of ours with one handshake hash, and carries data both ways", () => {
    const i = new XXHandshake(true, crypto);
    const r = new XXHandshake(false, crypto);
    r.readMessage(i.writeMessage());
    i.readMessage(r.writeMessage());
    r.readMessage(i.writeMessage());
    expect(i.complete && r.complete).toBe(true);
    expect(bytes(i.handshakeHash)).toEqual(bytes(r.handshakeHash));
    const ic = i.split();
    const rc = r.split();
    for (let n = 0; n < 3; n++) {
      const m = Buffer.from(`hello ${n}`);
      expect(
        bytes(rc.recv.decryptWithAd(new Uint8Array(), ic.send.encryptWithAd(new Uint8Array(), m))),
      ).toEqual(m);
      expect(
        bytes(ic.recv.decryptWithAd(new Uint8Array(), rc.send.encryptWithAd(new Uint8Array(), m))),
      ).toEqual(m);
    }
  });

  it("interoperates with libp2p-noise's XX state machine as initiator and as responder", () => {
    // ours as initiator, theirs as responder
    const i = new XXHandshake(true, crypto);
    const theirs = refState(false);
    const payloads = [Buffer.from("a"), Buffer.from("bb"), Buffer.from("ccc")];
    expect(bytes(theirs.readMessageA(new Uint8ArrayList(i.writeMessage(payloads[0]))))).toEqual(payloads[0]);
    expect(bytes(i.readMessage(theirs.writeMessageB(payloads[1]!).subarray()))).toEqual(payloads[1]);
    expect(bytes(theirs.readMessageC(new Uint8ArrayList(i.writeMessage(payloads[2]))))).toEqual(payloads[2]);
    expect(bytes(i.handshakeHash)).toEqual(bytes(theirs.ss.h));
    const [t1, t2] = theirs.ss.split();
    const mine = i.split();
    const m = Buffer.from("over the channel");
    expect(bytes(t1.decryptWithAd(new Uint8Array(), mine.send.encryptWithAd(new Uint8Array(), m)))).toEqual(
      m,
    );
    expect(bytes(mine.recv.decryptWithAd(new Uint8Array(), t2.encryptWithAd(new Uint8Array(), m)))).toEqual(
      m,
    );

    // theirs as initiator, ours as responder
    const ti = refState(true);
    const r = new XXHandshake(false, crypto);
    r.readMessage(ti.writeMessageA(new Uint8Array()).subarray());
    ti.readMessageB(new Uint8ArrayList(r.writeMessage()));
    r.readMessage(ti.writeMessageC(new Uint8Array()).subarray());
    expect(bytes(r.handshakeHash)).toEqual(bytes(ti.ss.h));
  });

  it("rejects a tampered handshake message and a tampered transport message", () => {
    const i = new XXHandshake(true, crypto);
    const r = new XXHandshake(false, crypto);
    r.readMessage(i.writeMessage());
    const b = Buffer.from(r.writeMessage());
    b[40]! ^= 1; // inside the encrypted static key
    expect(() => i.readMessage(b)).toThrow(NoiseError);

    const i2 = new XXHandshake(true, crypto);
    const r2 = new XXHandshake(false, crypto);
    r2.readMessage(i2.writeMessage());
    i2.readMessage(r2.writeMessage());
    r2.readMessage(i2.writeMessage());
    const c = Buffer.from(i2.split().send.encryptWithAd(new Uint8Array(), Buffer.from("x")));
    c[0]! ^= 1;
    expect(() => r2.split().recv.decryptWithAd(new Uint8Array(), c)).toThrow(NoiseError);
    expect(() => i2.writeMessage()).toThrow(NoiseError);
  });

  it("gives different handshake hashes to different channels (what the login is bound to)", () => {
    const hs = [0, 1].map(() => {
      const i = new XXHandshake(true, crypto);
      const r = new XXHandshake(false, crypto);
      r.readMessage(i.writeMessage());
      i.readMessage(r.writeMessage());
      r.readMessage(i.writeMessage());
      return bytes(i.handshakeHash).toString("hex");
    });
    expect(hs[0]).not.toBe(hs[1]);
  });
});
