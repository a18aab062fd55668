import { BOS, PAD } from "./tokenizer.js";
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
