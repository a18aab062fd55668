import { describe, expect, it } from "vitest";
import { logNormalizer, topLogprobs } from "../../src/server/engine/token-logprob.js";

/** The k largest of `logits` by sorting all of them: most likely first, the lower id first on ties. */
function bySorting(logits: Float32Array, logZ: number, k: number, excluded: number[]): { token: number; logprob: number }[] {
  return [...logits.keys()]
    .filter((i) => !excluded.includes(i))
    .sort((a, b) => logits[b]! - logits[a]! || a - b)
    .slice(0, k)
    .map((token) => ({ token, logprob: logits[token]! - logZ }));
}

describe("topLogprobs", () => {
  it("equals sorting the whole row, ties by id, excluded ids left out, for every k up to 20", () => {
    // A row with many exact ties (values on a coarse grid) and one with none.
    let state = 12345;
    const next = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32) * 8 - 4;
    const tied = Float32Array.from({ length: 259 }, () => Math.round(next()));
    const spread = Float32Array.from({ length: 259 }, next);
    for (const logits of [tied, spread]) {
      const { logZ } = logNormalizer(logits);
      for (let k = 0; k <= 20; k++) {
        expect(topLogprobs(logits, logZ, k, [256, 258])).toEqual(bySorting(logits, logZ, k, [256, 258]));
        expect(topLogprobs(logits, logZ, k)).toEqual(bySorting(logits, logZ, k, []));
      }
    }
  });

  it("lists every id when k is past the row's length", () => {
    const logits = Float32Array.from([0.5, 2, -1]);
    expect(topLogprobs(logits, 0, 20).map((t) => t.token)).toEqual([1, 0, 2]);
  });
});
