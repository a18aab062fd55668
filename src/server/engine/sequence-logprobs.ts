import { type DecodeWeights, forwardSequences, logitsOf } from "./decoder.js";
import { logNormalizer, topLogprobs } from "./token-logprob.js";
import { BOS, PAD } from "./tokenizer.js";
import type { TopLogprob } from "./types.js";

/** Rows per forward pass (several sequences share one), as the sampler's prefill. */
const CHUNK_ROWS = 2048;

/**
 * The log-probability of every token of every sequence given the ones before it, on the
 * sampler's arithmetic (decoder rows and `logNormalizer`), so a token a sample produced gets
 * exactly the logprob the sampler reported. Position 0 has no predecessor: null. `hits`, when
 * given, receives for each sequence whether each token (from position 1) is the argmax given the ones before;
 * `top`, when given, each position's `top.k` most likely tokens (position 0 null, see `topLogprobs`).
 */
export function sequenceLogprobs(
  w: DecodeWeights,
  sequences: readonly number[][],
  hits?: boolean[][],
  top?: { k: number; out: (TopLogprob[] | null)[][] },
): (number | null)[][] {
  const V = w.config.vocab_size;
  const out: (number | null)[][] = [];
  for (let first = 0; first < sequences.length; ) {
    let last = first + 1;
    let rows = sequences[first]!.length;
    while (last < sequences.length && rows + sequences[last]!.length <= CHUNK_ROWS) rows += sequences[last++]!.length;
    const chunk = sequences.slice(first, last);
    const hidden = forwardSequences(w, chunk);
    const logits = logitsOf(w, hidden, rows);
    let row = 0;
    for (const tokens of chunk) {
      const lp: (number | null)[] = [null];
      const hit: boolean[] = [false];
      const tops: (TopLogprob[] | null)[] = [null];
      for (let t = 1; t < tokens.length; t++) {
        const l = logits.subarray((row + t - 1) * V, (row + t) * V);
        const n = logNormalizer(l);
        lp.push(l[tokens[t]!]! - n.logZ);
        hit.push(n.argmax === tokens[t]);
        if (top) tops.push(topLogprobs(l, n.logZ, top.k, [BOS, PAD]));
      }
      out.push(lp);
      hits?.push(hit);
      top?.out.push(tops);
      row += tokens.length;
    }
    first = last;
  }
  return out;
}
