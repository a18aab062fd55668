import { describe, expect, it } from "vitest";
import { Lru } from "../../src/internal/lru.js";

describe("the sample cache's LRU", () => {
  it("evicts the least recently used entry, where a read counts as a use", () => {
    const lru = new Lru<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    expect(lru.get("a")).toBe(1);
    lru.set("c", 3);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    expect(lru.get("c")).toBe(3);
    expect(lru.size).toBe(2);
  });

  it("replacing a key keeps one entry and makes it the newest", () => {
    const lru = new Lru<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("a", 10);
    lru.set("c", 3);
    expect(lru.size).toBe(2);
    expect(lru.get("a")).toBe(10);
    expect(lru.get("b")).toBeUndefined();
  });

  it("refuses a bound that is not a positive integer", () => {
    for (const max of [0, -1, 1.5, Number.NaN]) expect(() => new Lru(max)).toThrow(RangeError);
  });
});
