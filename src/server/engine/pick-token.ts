import type { Rng } from "./rng.js";
import { type LogNormalizer, logNormalizer } from "./token-logprob.js";
import { BOS, PAD } from "./tokenizer.js";
import { expf } from "./wasm/expf.js";

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
  /** The row's normaliser: every token's logprob is `logits[t] - logZ`. */
  logZ: number;
}

/**
 * The sums over one row of logits that choosing a token needs. `jsLogitSums` is the
 * definition; the decoder's wasm kernels compute the same bits for logits in the wasm heap.
 */
export interface LogitSums {
  normalizer(logits: Float32Array): LogNormalizer;
  /**
   * Sets `probs[i] = expf((logits[i] - max) / temperature)` (the argument rounded to float32)
   * for every token a sample can produce, 0 for BOS and PAD. @returns their sum, in id order,
   * in float64.
   */
  tempered(logits: Float32Array, max: number, temperature: number): number;
  /** What the last `tempered` call wrote (valid until the next call). */
  readonly probs: Float64Array;
}

/** The reference `LogitSums`, in JavaScript. */
export class JsLogitSums implements LogitSums {
  probs = new Float64Array(0);

  normalizer(logits: Float32Array): LogNormalizer {
    return logNormalizer(logits);
  }

  tempered(logits: Float32Array, max: number, temperature: number): number {
    const V = logits.length;
    if (this.probs.length < V) this.probs = new Float64Array(V);
    const probs = this.probs;
    let total = 0;
    for (let i = 0; i < V; i++) {
      if (i === BOS || i === PAD) {
        probs[i] = 0;
        continue;
      }
      const p = expf((logits[i]! - max) / temperature);
      probs[i] = p;
      total += p;
    }
    return total;
  }
}

const jsSums = new JsLogitSums();
const BYTE_NEVER: readonly number[] = [BOS, PAD];

/**
 * `LogitSums` over every row of the logits (no id left out): log-probabilities are the
 * `log_softmax` over the whole LM head, as transformers computes them. For checkpoint models.
 */
export class FullLogitSums implements LogitSums {
  probs = new Float64Array(0);

  normalizer(logits: Float32Array): LogNormalizer {
    return fullNormalizer(logits);
  }

  tempered(logits: Float32Array, max: number, temperature: number): number {
    const V = logits.length;
    if (this.probs.length < V) this.probs = new Float64Array(V);
    let total = 0;
    for (let i = 0; i < V; i++) total += this.probs[i] = expf((logits[i]! - max) / temperature);
    return total;
  }
}

/** max, argmax (lowest id on ties) and log Σ exp over every logit, the exps summed in float64. */
export function fullNormalizer(logits: Float32Array): LogNormalizer {
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i]! > max) {
      max = logits[i]!;
      argmax = i;
    }
  }
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - max);
  return { max, argmax, logZ: max + Math.log(z) };
}

/**
 * Chooses the next token from `logits`. BOS and PAD are never chosen. Temperature 0 is greedy
 * (lowest id wins ties, no randomness used); otherwise the distribution is tempered, cut to the
 * `topK` most likely tokens (0 = all), then to the smallest set reaching `topP` mass, and one
 * uniform draw from `rng` picks the token (walking the kept tokens from most to least likely, or
 * in id order when nothing is cut).
 * @param sums where the per-token sums are computed (@default the JavaScript reference)
 */
export function pickToken(logits: Float32Array, opts: PickOptions, rng: Rng, sums: LogitSums = jsSums, never: readonly number[] = BYTE_NEVER): Picked {
  const V = logits.length;
  // Ids never chosen (-1: none); two at most, compared inline in the hot loops.
  const n0 = never[0] ?? -1;
  const n1 = never[1] ?? -1;
  const { max, argmax, logZ } = sums.normalizer(logits);
  const logprobOf = (t: number) => logits[t]! - logZ;
  if (opts.temperature === 0) return { token: argmax, logprob: logprobOf(argmax), logZ };

  if (opts.topK <= 0 && opts.topP >= 1) {
    // Nothing is cut: every token in id order (the kept mass is the total).
    const total = sums.tempered(logits, max, opts.temperature);
    const probs = sums.probs;
    let u = rng.next() * total;
    let last = 0;
    for (let i = 0; i < V; i++) {
      if (i === n0 || i === n1) continue;
      last = i;
      u -= probs[i]!;
      if (u < 0) return { token: i, logprob: logprobOf(i), logZ };
    }
    return { token: last, logprob: logprobOf(last), logZ };
  }

  const ids: number[] = [];
  for (let i = 0; i < V; i++) if (i !== n0 && i !== n1) ids.push(i);
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
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
    if (u < 0) return { token: ids[i]!, logprob: logprobOf(ids[i]!), logZ };
  }
  const last = ids[keep - 1]!;
  return { token: last, logprob: logprobOf(last), logZ };
}
