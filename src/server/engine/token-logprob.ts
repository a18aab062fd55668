import { BOS, PAD } from "./tokenizer.js";
import type { TopLogprob } from "./types.js";
import { expf } from "./wasm/expf.js";

/** The normaliser of one row of logits over the tokens a sample can produce (all but BOS and PAD). */
export interface LogNormalizer {
  /** The largest logit, and its token (lowest id on ties). */
  max: number;
  argmax: number;
  /** log Σ exp(logit) over the tokens a sample can produce. */
  logZ: number;
}

/**
 * The one definition of a token's log-probability that the sampler and `forward` share, so
 * they agree to the last bit on the same logits: `logits[t] - logZ`, with
 * `logZ = max + log(sum of expf(logit - max))`, the float32 exps (`wasm/expf.ts`, the decoder's
 * kernels compute the same bits) summed in id order in float64.
 */
export function logNormalizer(logits: Float32Array): LogNormalizer {
  const V = logits.length;
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < V; i++) {
    if (i === BOS || i === PAD) continue;
    if (logits[i]! > max) {
      max = logits[i]!;
      argmax = i;
    }
  }
  let z = 0;
  for (let i = 0; i < V; i++) if (i !== BOS && i !== PAD) z += expf(logits[i]! - max);
  return { max, argmax, logZ: max + Math.log(z) };
}

/**
 * The `k` most likely tokens of one row of logits, most likely first (the lowest id first on
 * ties, as `argmax`), each `logits[t] - logZ`: the same numbers as the token's own logprob.
 * `excluded` ids (those the normaliser leaves out) are never listed.
 */
export function topLogprobs(logits: Float32Array, logZ: number, k: number, excluded: readonly number[] = []): TopLogprob[] {
  if (k <= 0) return [];
  // The k best so far, best first; a logit joins only when it beats the worst kept (strictly,
  // so an earlier, lower id keeps its place on a tie).
  const ids: number[] = [];
  const V = logits.length;
  for (let i = 0; i < V; i++) {
    if (excluded.includes(i)) continue;
    const v = logits[i]!;
    if (ids.length === k) {
      if (!(v > logits[ids[k - 1]!]!)) continue;
      ids.pop();
    }
    let at = ids.length;
    while (at > 0 && v > logits[ids[at - 1]!]!) at--;
    ids.splice(at, 0, i);
  }
  return ids.map((token) => ({ token, logprob: logits[token]! - logZ }));
}
