import { describe, expect, it } from "vitest";
import { KeyedTokenBuckets } from "../../src/relay/token-bucket.ts";

describe("KeyedTokenBuckets", () => {
  it("grants a burst of `capacity`, then one token per period/capacity, per key", () => {
    let now = 0;
    const b = new KeyedTokenBuckets(3, 60_000, () => now);
    expect([b.take("a"), b.take("a"), b.take("a")]).toEqual([0, 0, 0]);
    expect(b.take("a")).toBe(20_000);
    expect(b.take("b")).toBe(0);
    now = 10_000;
    expect(b.take("a")).toBe(10_000);
    now = 20_000;
    expect(b.take("a")).toBe(0);
    expect(b.take("a")).toBe(20_000);
  });

  it("forgets buckets once they are full again", () => {
    let now = 0;
    const b = new KeyedTokenBuckets(2, 1000, () => now);
    b.take("a");
    b.take("b");
    b.take("b");
    now = 500;
    b.sweep();
    expect(b.size).toBe(1); // "a" is full again after 500 ms, "b" is not
    now = 1000;
    b.sweep();
    expect(b.size).toBe(0);
  });
});
