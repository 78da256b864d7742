/**
 * The header codec, and frame decoding across message boundaries: the same byte stream split at
 * every position gives the same result as in one piece.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decodeHeader,
  encodeHeader,
  Flag,
  FrameType,
  HEADER_LENGTH,
  YamuxProtocolError,
} from "../../src/yamux/frame.ts";
import { frame, parseFrames, rawRemote, until } from "./pipe.ts";

const { Data, WindowUpdate, Ping } = FrameType;
const { SYN, ACK, FIN, RST } = Flag;

describe("header codec", () => {
  it("round-trips boundary values", () => {
    for (const [type, flags, id, len] of [
      [Data, 0, 1, 0],
      [WindowUpdate, SYN | ACK | FIN | RST, 0xffffffff, 0xffffffff],
      [Ping, ACK, 0, 0x80000000],
      [FrameType.GoAway, 0, 0, 4],
    ] as const) {
      const b = encodeHeader(type, flags, id, len);
      expect(b.byteLength).toBe(HEADER_LENGTH);
      expect(decodeHeader(b, 0)).toEqual({ type, flags, streamId: id, length: len });
      // At an offset inside a larger buffer too.
      const wide = Buffer.concat([Buffer.alloc(5, 0xee), b]);
      expect(decodeHeader(wide, 5)).toEqual({ type, flags, streamId: id, length: len });
    }
  });

  it("rejects a bad version, type or flag", () => {
    const b = encodeHeader(Data, 0, 1, 0);
    for (const [at, value] of [
      [0, 1],
      [1, 4],
      [1, 0xff],
      [2, 0x01],
      [3, 0x10],
    ] as const) {
      const bad = Buffer.from(b);
      bad[at] = value;
      expect(() => decodeHeader(bad, 0)).toThrow(YamuxProtocolError);
    }
  });
});

/** A conversation from an opener: two streams, data split across frames, a ping, FIN and RST. */
function conversation(): { bytes: Buffer; body1: Buffer; body3: Buffer } {
  const body1 = Buffer.from("hello, stream one");
  const body3 = randomBytes(300);
  const bytes = Buffer.concat([
    frame(WindowUpdate, SYN, 1, 0),
    frame(Data, 0, 1, 7, body1.subarray(0, 7)),
    frame(Data, SYN, 3, 200, body3.subarray(0, 200)),
    frame(Ping, SYN, 0, 0xabcdef01),
    frame(Data, FIN, 1, body1.byteLength - 7, body1.subarray(7)),
    frame(WindowUpdate, 0, 3, 4096),
    frame(Data, 0, 3, 0),
    frame(Data, 0, 3, 100, body3.subarray(200)),
    frame(WindowUpdate, FIN, 3, 0),
    frame(Ping, SYN, 0, 7),
  ]);
  return { bytes, body1, body3 };
}

/** Feeds `pieces` to a fresh acceptor and checks it saw exactly the conversation. */
async function feed(pieces: Buffer[], body1: Buffer, body3: Buffer): Promise<void> {
  const r = rawRemote("acceptor");
  const got = new Map<number, Buffer[]>();
  let ended = 0;
  r.session.on("stream", (s) => {
    got.set(s.id, []);
    s.on("data", (c: Buffer) => got.get(s.id)!.push(c));
    s.on("end", () => ended++);
  });
  for (const p of pieces) r.session.receive(p);
  await until(() => ended === 2, "both streams end");
  expect(r.session.isClosed).toBe(false);
  expect(Buffer.concat(got.get(1)!).equals(body1)).toBe(true);
  expect(Buffer.concat(got.get(3)!).equals(body3)).toBe(true);
  await until(() => r.wire.messages.length > 0, "answers sent");
  const out = parseFrames(Buffer.concat(r.wire.messages));
  expect(out.filter((f) => f.type === Ping).map((f) => [f.flags, f.length])).toEqual([
    [ACK, 0xabcdef01],
    [ACK, 7],
  ]);
  expect(out.filter((f) => f.type === WindowUpdate && f.flags === ACK).map((f) => f.streamId)).toEqual([
    1, 3,
  ]);
}

describe("decoding across message boundaries", () => {
  const { bytes, body1, body3 } = conversation();

  it("in one message", async () => {
    await feed([bytes], body1, body3);
  });

  it("split in two at every byte boundary", async () => {
    for (let k = 0; k <= bytes.byteLength; k++) {
      await feed([bytes.subarray(0, k), bytes.subarray(k)], body1, body3);
    }
  });

  it("one byte per message", async () => {
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.byteLength; i++) pieces.push(bytes.subarray(i, i + 1));
    await feed(pieces, body1, body3);
  });

  it("split at 200 random sets of boundaries", async () => {
    for (let round = 0; round < 200; round++) {
      const cuts = Array.from({ length: 1 + (round % 12) }, () =>
        Math.floor(Math.random() * bytes.byteLength),
      ).sort((a, b) => a - b);
      const pieces: Buffer[] = [];
      let from = 0;
      for (const c of cuts) {
        pieces.push(bytes.subarray(from, c));
        from = c;
      }
      pieces.push(bytes.subarray(from));
      await feed(pieces, body1, body3);
    }
  });
});
