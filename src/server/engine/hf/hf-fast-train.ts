import type { EncodedBatch } from "../encode-batch.js";
import type { LoraParams } from "../lora.js";
import { clipThresholds, type PolicyBatch, type PolicyLossFn } from "../rl-loss.js";
import type { LossSpec } from "../types.js";
import type { FastLora, HfFastModel, RowLoss } from "./hf-fast-model.js";
import type { LossAndGrads } from "./hf-train.js";

/**
 * Bytes of saved activations one micro-batch of the fast path may hold: the server's peak memory
 * while training is the base weights plus this (plus the LM head's row block), so it is kept to
 * what a step's products need to run at full rate. On a 30-layer 576-wide model that is one row
 * of 128 tokens (88 MB): the bench's step of 4 such rows, in six alternated runs each, took a
 * median 10.6 s against 11.2 s in micro-batches of two (fastest 10.0 s against 9.1 s; the
 * difference is within this machine's noise), for 88 MB less at the server's peak.
 */
const MICRO_BATCH_BYTES = 96 * 2 ** 20;

/** `hfLossAndGrads` on the fast path: mean weighted cross-entropy (weights already normalised). */
export function fastLossAndGrads(model: HfFastModel, batch: EncodedBatch, lora: LoraParams): LossAndGrads {
  return run(model, batch, lora, (row, logp) => {
    const w = batch.weights[row]!;
    return { value: -w * logp, g: w };
  });
}

/**
 * `hfPolicyLossAndGrads` on the fast path: the `policyLoss` of `rl-loss.ts` row by row, with
 * `r = exp(logp - q)`, `term = r·A` (ppo: `min(r·A, clip(r)·A)`, its gradient zero where the
 * clipped term is the smaller; cispo: `clip(r)·A·logp`, its gradient `clip(r)·A`), summed over
 * target rows and divided by their count.
 */
export function fastPolicyLossAndGrads(model: HfFastModel, batch: PolicyBatch, lora: LoraParams, loss: LossSpec & { loss_fn: PolicyLossFn }): LossAndGrads {
  const N = Math.max(1, batch.numTargets);
  const { low, high } = clipThresholds(loss);
  return run(model, batch, lora, (row, logp) => {
    if (batch.mask[row] === 0) return { value: 0, g: 0 };
    const ratio = Math.exp(logp - batch.sampler[row]!);
    const adv = batch.advantages[row]!;
    const unclipped = ratio * adv;
    let term = unclipped;
    let coef = unclipped;
    if (loss.loss_fn === "ppo") {
      const clipped = Math.min(high, Math.max(low, ratio)) * adv;
      term = Math.min(unclipped, clipped);
      coef = unclipped <= clipped ? unclipped : 0;
    } else if (loss.loss_fn === "cispo") {
      coef = Math.min(high, Math.max(low, ratio)) * adv;
      term = coef * logp;
    }
    return { value: -term / N, g: coef / N };
  });
}

/** The batch in micro-batches of whole rows whose saved activations fit `MICRO_BATCH_BYTES`. */
function run(model: HfFastModel, batch: Pick<EncodedBatch, "rows" | "seq" | "tokens" | "targets">, lora: LoraParams, rowLoss: RowLoss): LossAndGrads {
  const { hidden: d, heads: H, kvHeads: KV, headDim: hd, intermediate: I, layers } = model.spec;
  // What `HfFastModel.lossAndGrads` keeps per token and layer: the layer's input, Q, K, V, the
  // attention's output, the residual after it, and the MLP's gate and up projections.
  const perToken = 4 * layers * (3 * d + H * hd + 2 * KV * hd + 2 * I);
  const rowsPer = Math.max(1, Math.floor(MICRO_BATCH_BYTES / (perToken * batch.seq)));
  const fast: FastLora = {
    r: lora.r,
    scale: lora.scale,
    pairs: new Map(lora.pairs.map((p, index) => [`${p.layer}.${p.module}`, { at: p.at, bt: p.bt, index }])),
  };
  const grads = lora.pairs.map((p): [Float32Array, Float32Array] => [new Float32Array(p.at.length), new Float32Array(p.bt.length)]);
  const { seq } = batch;
  // -1 where a position has no target (weightedAccuracy skips those).
  const predicted = new Int32Array(batch.rows * seq).fill(-1);
  let loss = 0;
  for (let r0 = 0; r0 < batch.rows; r0 += rowsPer) {
    const r1 = Math.min(batch.rows, r0 + rowsPer);
    loss += model.lossAndGrads(
      batch.tokens.subarray(r0 * seq, r1 * seq),
      batch.targets.subarray(r0 * seq, r1 * seq),
      r1 - r0,
      seq,
      fast,
      (row, logp) => rowLoss(r0 * seq + row, logp),
      grads,
      predicted.subarray(r0 * seq, r1 * seq),
    );
  }
  return { loss, grads, predicted };
}
