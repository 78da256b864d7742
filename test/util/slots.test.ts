import { describe, expect, it } from "vitest";
import { Slots } from "../../src/util/slots.ts";

const item = (n: number) => ({ n, slot: -1 });

describe("Slots", () => {
  it("adds once, removes once, and counts", () => {
    const s = new Slots<ReturnType<typeof item>>();
    const a = item(1);
    expect(s.add(a)).toBe(true);
    expect(s.add(a)).toBe(false);
    expect(s.size).toBe(1);
    expect(s.has(a)).toBe(true);
    expect(s.remove(a)).toBe(true);
    expect(s.remove(a)).toBe(false);
    expect(s.has(a)).toBe(false);
    expect(a.slot).toBe(-1);
    expect(s.size).toBe(0);
  });

  it("keeps every other item when one from the middle leaves", () => {
    const s = new Slots<ReturnType<typeof item>>();
    const xs = [1, 2, 3, 4, 5].map(item);
    for (const x of xs) s.add(x);
    s.remove(xs[1]!);
    s.remove(xs[0]!);
    expect(
      s
        .values()
        .map((x) => x.n)
        .sort(),
    ).toEqual([3, 4, 5]);
    for (const x of s.values()) expect(s.has(x)).toBe(true);
    s.add(xs[0]!);
    expect(s.size).toBe(4);
  });

  it("does not mistake an item held by another Slots for its own", () => {
    const s = new Slots<ReturnType<typeof item>>();
    const t = new Slots<ReturnType<typeof item>>();
    const a = item(1);
    const b = item(2);
    s.add(a);
    t.add(b);
    expect(s.has(b)).toBe(false);
    expect(s.remove(b)).toBe(false);
    expect(t.has(b)).toBe(true);
  });

  it("survives a long random churn against a Set as the reference", () => {
    const s = new Slots<ReturnType<typeof item>>();
    const ref = new Set<ReturnType<typeof item>>();
    const pool = Array.from({ length: 64 }, (_, i) => item(i));
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 20_000; i++) {
      const x = pool[rand() % pool.length]!;
      if (rand() % 2) {
        expect(s.add(x)).toBe(!ref.has(x));
        ref.add(x);
      } else {
        expect(s.remove(x)).toBe(ref.has(x));
        ref.delete(x);
      }
      expect(s.size).toBe(ref.size);
      expect(s.has(x)).toBe(ref.has(x));
    }
    expect(new Set(s.values())).toEqual(ref);
  });

  it("drain empties it and returns what it held", () => {
    const s = new Slots<ReturnType<typeof item>>();
    const xs = [1, 2, 3].map(item);
    for (const x of xs) s.add(x);
    const out = s.drain();
    expect(out.map((x) => x.n).sort()).toEqual([1, 2, 3]);
    expect(s.size).toBe(0);
    for (const x of xs) expect(x.slot).toBe(-1);
    expect(s.values()).toEqual([]);
  });
});
