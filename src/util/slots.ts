/**
 * An unordered set of objects that each remember their own index: add and remove are O(1) and
 * touch one array slot, and the array is reused, so churn allocates nothing.
 *
 * Why not a Map or Set: V8 rehashes their tables as entries come and go, and a replaced table keeps
 * its entries and a link to its successor. Once a table has been promoted to old space (the idle
 * full GC does this), every later table is reachable from old space, so entries that died young are
 * kept alive by each scavenge and promoted, and full GCs follow one after another.
 * `npx tsx bench/gc-churn.ts` shows the difference.
 *
 * An object can be held by one `Slots` at a time: `slot` is its index there, or -1.
 */
export interface Slotted {
  slot: number;
}

export class Slots<T extends Slotted> {
  private readonly items: (T | undefined)[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(item: T): boolean {
    return item.slot >= 0 && this.items[item.slot] === item;
  }

  /** Adds `item`; false if it is already here. */
  add(item: T): boolean {
    if (this.has(item)) return false;
    item.slot = this.count;
    this.items[this.count++] = item;
    return true;
  }

  /** Removes `item`; false if it was not here. */
  remove(item: T): boolean {
    if (!this.has(item)) return false;
    const last = this.items[--this.count]!;
    this.items[item.slot] = last;
    last.slot = item.slot;
    this.items[this.count] = undefined;
    item.slot = -1;
    return true;
  }

  /** A copy of the items, so the caller may add and remove while it walks them. */
  values(): T[] {
    return this.items.slice(0, this.count) as T[];
  }

  /** Removes every item and returns them. */
  drain(): T[] {
    const out = this.values();
    for (let i = 0; i < this.count; i++) {
      this.items[i]!.slot = -1;
      this.items[i] = undefined;
    }
    this.count = 0;
    return out;
  }
}
