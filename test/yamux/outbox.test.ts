/** The outgoing frame buffer: order, message sizes, and that no sent byte is ever overwritten. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FrameType } from "../../src/yamux/frame.ts";
import { HAND_OVER_MIN, Outbox } from "../../src/yamux/outbox.ts";
import { parseFrames } from "./pipe.ts";

function drain(o: Outbox): Buffer[] {
  const out: Buffer[] = [];
  for (let m = o.take(); m !== undefined; m = o.take()) out.push(m);
  return out;
}

describe("Outbox", () => {
  it("keeps frames in order across message boundaries and counts its bytes", () => {
    const o = new Outbox(64 * 1024);
    const payload = randomBytes(300 * 1024);
    o.header(FrameType.WindowUpdate, 1, 1, 0);
    o.header(FrameType.Data, 0, 1, payload.byteLength);
    o.data(payload, 0, payload.byteLength);
    o.header(FrameType.Ping, 1, 0, 9);
    expect(o.bytes).toBe(36 + payload.byteLength);
    const msgs = drain(o);
    expect(o.bytes).toBe(0);
    expect(Math.max(...msgs.map((m) => m.byteLength))).toBeLessThanOrEqual(64 * 1024);
    const frames = parseFrames(Buffer.concat(msgs));
    expect(frames.map((f) => f.type)).toEqual([FrameType.WindowUpdate, FrameType.Data, FrameType.Ping]);
    expect(frames[1]!.body.equals(payload)).toBe(true);
  });

  it("says whether more than one message is queued", () => {
    const o = new Outbox(1024 * 1024);
    expect(o.several()).toBe(false);
    o.header(FrameType.Ping, 1, 0, 1);
    expect(o.several()).toBe(false); // one message being filled
    const piece = randomBytes(HAND_OVER_MIN);
    o.data(piece, 0, piece.length, true); // handed over: the header's message, then the piece's own
    expect(o.several()).toBe(true);
    o.take();
    expect(o.several()).toBe(false);
    o.header(FrameType.Ping, 1, 0, 2); // fills what is left of the first buffer
    expect(o.several()).toBe(true);
    expect(drain(o)).toHaveLength(2);
    expect(o.several()).toBe(false);
  });

  it("grows its buffers during a burst, up to the largest message, and shrinks when idle", () => {
    const o = new Outbox(256 * 1024);
    const chunk = randomBytes(1024 * 1024);
    o.data(chunk, 0, chunk.byteLength);
    const sizes = drain(o).map((m) => m.byteLength);
    expect(sizes[0]).toBe(16 * 1024);
    expect(sizes[1]).toBe(32 * 1024);
    expect(Math.max(...sizes)).toBe(256 * 1024);
    o.idle();
    o.data(chunk, 0, 40 * 1024);
    expect(drain(o)[0]!.byteLength).toBe(16 * 1024);
  });

  it("copies data in: the source may change right after", () => {
    const o = new Outbox(64 * 1024);
    const src = Buffer.from("original");
    o.data(src, 0, src.byteLength);
    src.write("CHANGED!");
    expect(drain(o)[0]!.toString()).toBe("original");
  });

  it("sends large owned data as is: its own message, the same memory, right behind its header", () => {
    const o = new Outbox(256 * 1024);
    const src = randomBytes(100 * 1024);
    const piece = src.subarray(10, 10 + 64 * 1024);
    o.header(FrameType.WindowUpdate, 1, 1, 0);
    o.header(FrameType.Data, 0, 1, piece.byteLength);
    o.data(src, 10, 10 + piece.byteLength, true);
    o.header(FrameType.Ping, 1, 0, 9); // after the hand-over: in the rest of the first buffer
    expect(o.bytes).toBe(36 + piece.byteLength);
    const msgs = drain(o);
    expect(o.bytes).toBe(0);
    expect(msgs.map((m) => m.byteLength)).toEqual([24, piece.byteLength, 12]);
    expect(msgs[1]!.buffer).toBe(src.buffer);
    expect(msgs[1]!.byteOffset).toBe(piece.byteOffset);
    const frames = parseFrames(Buffer.concat(msgs));
    expect(frames.map((f) => f.type)).toEqual([FrameType.WindowUpdate, FrameType.Data, FrameType.Ping]);
    expect(frames[1]!.body.equals(piece)).toBe(true);
  });

  it("copies owned data that is small, or larger than a message", () => {
    const o = new Outbox(64 * 1024);
    const small = randomBytes(HAND_OVER_MIN - 1);
    const big = randomBytes(64 * 1024 + 1);
    const want = Buffer.concat([small, big]);
    o.data(small, 0, small.byteLength, true);
    o.data(big, 0, big.byteLength, true);
    small.fill(0);
    big.fill(0);
    const msgs = drain(o);
    expect(Math.max(...msgs.map((m) => m.byteLength))).toBeLessThanOrEqual(64 * 1024);
    expect(Buffer.concat(msgs).equals(want)).toBe(true);
  });

  it("never overwrites a message it handed out, small or large", () => {
    const o = new Outbox(64 * 1024);
    const taken: Array<[Buffer, Buffer]> = [];
    for (let round = 0; round < 200; round++) {
      const n = [5, 100, 3000, 5000, 20_000, 70_000][round % 6]!;
      const src = randomBytes(n);
      o.data(src, 0, n);
      const msgs = drain(o);
      taken.push([Buffer.concat(msgs), src]);
      if (round % 7 === 0) o.idle();
    }
    for (const [msg, src] of taken) expect(msg.equals(src)).toBe(true);
  });

  it("copies everything when hand-over is off (a link that copies every message anyway)", () => {
    const o = new Outbox(256 * 1024, false);
    const src = randomBytes(64 * 1024);
    const want = Buffer.from(src);
    expect(o.handsOver(64 * 1024)).toBe(false);
    o.data(src, 0, src.byteLength, true);
    src.fill(0);
    expect(Buffer.concat(drain(o)).equals(want)).toBe(true);
  });

  it("mixes copied and handed-over data without overwriting a message it gave out", () => {
    const o = new Outbox(128 * 1024);
    const sent: Buffer[] = []; // as taken: views, never copied here
    const want: Buffer[] = [];
    for (let round = 0; round < 120; round++) {
      const n = [7, 16 * 1024, 900, 40_000, 128 * 1024, 3000][round % 6]!;
      const owned = round % 4 < 2;
      const src = randomBytes(n);
      want.push(Buffer.from(src));
      o.header(FrameType.Data, 0, round + 1, n);
      o.data(src, 0, n, owned);
      if (!owned) src.fill(0); // a borrowed source is the caller's again at once
      if (round % 3 === 0) {
        sent.push(...drain(o));
        if (round % 9 === 0) o.idle(); // as the session does: only with nothing queued
      }
    }
    sent.push(...drain(o));
    const frames = parseFrames(Buffer.concat(sent));
    expect(frames.map((f) => f.streamId)).toEqual(want.map((_, i) => i + 1));
    expect(frames.every((f, i) => f.body.equals(want[i]!))).toBe(true);
  });

  it("drops nothing queued when told it is idle", () => {
    const o = new Outbox(256 * 1024);
    const big = randomBytes(300 * 1024); // grows the buffers past the small size
    o.data(big, 0, big.byteLength);
    const tail = randomBytes(1000);
    o.data(tail, 0, tail.byteLength);
    o.idle();
    expect(Buffer.concat(drain(o)).equals(Buffer.concat([big, tail]))).toBe(true);
  });

  it("clear drops everything queued", () => {
    const o = new Outbox(64 * 1024);
    o.header(FrameType.Ping, 1, 0, 1);
    o.clear();
    expect(o.bytes).toBe(0);
    expect(o.take()).toBeUndefined();
  });
});
