/** The outgoing frame buffer: order, message sizes, and that no sent byte is ever overwritten. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { FrameType } from "../../src/yamux/frame.ts";
import { Outbox } from "../../src/yamux/outbox.ts";
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

  it("clear drops everything queued", () => {
    const o = new Outbox(64 * 1024);
    o.header(FrameType.Ping, 1, 0, 1);
    o.clear();
    expect(o.bytes).toBe(0);
    expect(o.take()).toBeUndefined();
  });
});
