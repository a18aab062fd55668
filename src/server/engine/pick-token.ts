import type { Rng } from "./rng.js";
import { logNormalizer } from "./token-logprob.js";
import { BOS, PAD } from "./tokenizer.js";

/** Token choice settings (already defaulted). */
export interface PickOptions {
  temperature: number;
  topP: number;
  topK: number;
}

/** A chosen token and its log-probability under the model (before temperature/top-k/top-p). */
export interface Picked {
  token: number;
  logprob: number;
}

/**
 * Chooses the next token from `logits`. BOS and PAD are never chosen. Temperature 0 is greedy
 * (lowest id wins ties, no randomness used); otherwise the distribution is tempered, cut to the
 * `topK` most likely tokens (0 = all), then to the smallest set reaching `topP` mass, and one
 * uniform draw from `rng` picks the token (walking the kept tokens from most to least likely, or
 * in id order when nothing is cut).
 */
export function pickToken(logits: Float32Array, opts: PickOptions, rng: Rng): Picked {
  const V = logits.length;
  const { max, argmax, logZ } = logNormalizer(logits);
  const logprobOf = (t: number) => logits[t]! - logZ;
  if (opts.temperature === 0) return { token: argmax, logprob: logprobOf(argmax) };

  const ids: number[] = [];
  for (let i = 0; i < V; i++) if (i !== BOS && i !== PAD) ids.push(i);
  // Cutting needs the tokens by probability; without a cut, id order gives the same distribution.
  const cut = opts.topK > 0 || opts.topP < 1;
  if (cut) ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  const k = opts.topK > 0 ? Math.min(opts.topK, ids.length) : ids.length;
  const probs: number[] = [];
  let total = 0;
  for (let i = 0; i < k; i++) {
    const p = Math.exp((logits[ids[i]!]! - max) / opts.temperature);
    probs.push(p);
    total += p;
  }
  let keep = k;
  if (opts.topP < 1) {
    let cum = 0;
    for (let i = 0; i < k; i++) {
      cum += probs[i]! / total;
      if (cum >= opts.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  let mass = 0;
  for (let i = 0; i < keep; i++) mass += probs[i]!;
  let u = rng.next() * mass;
  for (let i = 0; i < keep; i++) {
    u -= probs[i]!;
    if (u < 0) return { token: ids[i]!, logprob: logprobOf(ids[i]!) };
  }
  const last = ids[keep - 1]!;
  return { token: last, logprob: logprobOf(last) };
}
