import type { Scalar, Tensor, Tensor2D } from "@tensorflow/tfjs";
import type { EncodedBatch } from "../encode-batch.js";
import { weightedCrossEntropy } from "../grad-ops.js";
import type { LoraParams } from "../lora.js";
import { type PolicyBatch, type PolicyLossFn, policyLoss } from "../rl-loss.js";
import type { LossSpec, TopLogprob } from "../types.js";
import { fullNormalizer } from "../pick-token.js";
import { topLogprobs } from "../token-logprob.js";
import { HfKvCache, type HfLoraTensors, type HfModel } from "./hf-model.js";

/** A loss and its gradient, in the LoRA pairs' order as `[at, bt]`. */
export interface LossAndGrads {
  loss: number;
  grads: [Float32Array, Float32Array][];
  /** `[rows*seq]` the most likely next token at each position (argmax of the logits). */
  predicted?: Int32Array;
}

/** Mean weighted cross-entropy of `batch` (weights already normalised) and its gradient w.r.t. every LoRA tensor. */
export function hfLossAndGrads(model: HfModel, batch: EncodedBatch, lora: LoraParams): LossAndGrads {
  const tf = model.tf;
  return valueAndGrads(model, batch, lora, (part) => (onehot) => {
    const weights = tf.tensor2d(part.weights, [part.weights.length, 1]);
    return (logits) => weightedCrossEntropy(tf, logits, onehot, weights) as Scalar;
  });
}

/** An RL loss (`importance_sampling`, `ppo`; see `policyLoss`) over every row of the LM head. */
export function hfPolicyLossAndGrads(model: HfModel, batch: PolicyBatch, lora: LoraParams, loss: LossSpec & { loss_fn: PolicyLossFn }): LossAndGrads {
  const tf = model.tf;
  return valueAndGrads(model, batch, lora, (part) => (onehot) => policyLoss(tf, onehot, tf.zeros([1, model.spec.vocab]) as Tensor2D, part, loss));
}

/** Bytes of activations one training micro-batch may hold (its saved tensors and logits). */
const MICRO_BATCH_BYTES = 256 * 2 ** 20;

/**
 * The loss and gradients of a batch, in micro-batches of whole rows whose activations (and
 * `[tokens, vocab]` logits) fit `MICRO_BATCH_BYTES`: a large vocabulary or a deep model would
 * otherwise outgrow the wasm heap. Weights are normalised over the whole batch, so the
 * micro-batches' losses and gradients add up to the batch's.
 */
function valueAndGrads<B extends Pick<EncodedBatch, "rows" | "seq" | "tokens" | "targets">>(
  model: HfModel,
  batch: B,
  lora: LoraParams,
  lossFor: (part: B) => (onehot: Tensor2D) => (logits: Tensor2D) => Scalar,
): LossAndGrads {
  const { vocab, layers, hidden, intermediate } = model.spec;
  const perToken = 4 * (6 * vocab + layers * (12 * hidden + 6 * intermediate));
  const rowsPer = Math.max(1, Math.floor(MICRO_BATCH_BYTES / (perToken * batch.seq)));
  let total: LossAndGrads | undefined;
  const predicted = new Int32Array(batch.rows * batch.seq);
  for (let r0 = 0; r0 < batch.rows; r0 += rowsPer) {
    const part = sliceRows(batch, r0, Math.min(batch.rows, r0 + rowsPer));
    const { loss, grads, predicted: partPredicted } = microBatch(model, part, lora, lossFor(part));
    if (partPredicted) predicted.set(partPredicted, r0 * batch.seq);
    if (!total) total = { loss, grads, predicted };
    else {
      total.loss += loss;
      total.grads.forEach((pair, i) =>
        pair.forEach((sum, j) => {
          const g = grads[i]![j]!;
          for (let k = 0; k < sum.length; k++) sum[k] = sum[k]! + g[k]!;
        }),
      );
    }
  }
  return total!;
}

/** Rows `[r0, r1)` of a padded batch: every per-position array sliced, scalars (totals) kept. */
function sliceRows<B extends { rows: number; seq: number }>(batch: B, r0: number, r1: number): B {
  const out: Record<string, unknown> = { ...batch, rows: r1 - r0 };
  for (const [key, value] of Object.entries(batch) as [string, unknown][]) {
    if (value instanceof Float32Array || value instanceof Int32Array) out[key] = value.subarray(r0 * batch.seq, r1 * batch.seq);
  }
  return out as B;
}

function microBatch(
  model: HfModel,
  batch: Pick<EncodedBatch, "rows" | "seq" | "tokens" | "targets">,
  lora: LoraParams,
  lossFor: (onehot: Tensor2D) => (logits: Tensor2D) => Scalar,
): LossAndGrads {
  const tf = model.tf;
  let result: LossAndGrads | undefined;
  tf.tidy(() => {
    const params = lora.pairs.flatMap((p) => [tf.tensor2d(p.at, [p.inDim, lora.r]), tf.tensor2d(p.bt, [lora.r, p.outDim])]);
    // The wasm OneHot kernel ignores its dtype argument (float32 gets int bits), so cast.
    const onehot = tf.cast(tf.oneHot(tf.tensor1d(batch.targets, "int32"), model.spec.vocab), "float32") as Tensor2D;
    const lossOf = lossFor(onehot);
    let argmax: Tensor | undefined;
    const f = (...p: Tensor[]) => {
      const tensors: HfLoraTensors = {
        scale: lora.scale,
        pairs: new Map(lora.pairs.map((pair, i) => [`${pair.layer}.${pair.module}`, [p[2 * i] as Tensor2D, p[2 * i + 1] as Tensor2D]])),
      };
      const logits = model.logits(model.hidden(batch.tokens, batch.rows, batch.seq, tensors));
      // Off the path to the loss, so the gradient ignores it; kept past the tape's tidy.
      argmax = tf.keep(tf.argMax(logits, 1));
      return lossOf(logits);
    };
    const { value, grads } = tf.valueAndGrads(f)(params);
    const g = grads.map((t) => t.dataSync() as Float32Array);
    const predicted = Int32Array.from(argmax!.dataSync());
    argmax!.dispose();
    result = { loss: value.dataSync()[0]!, grads: lora.pairs.map((_, i) => [g[2 * i]!, g[2 * i + 1]!]), predicted };
  });
  return result!;
}

/** Sequences per forward pass of `hfLogprobs` and `hfEmbeddings`. */
const CHUNK = 8;

/**
 * `log_softmax` over every row of the LM head of each token given the ones before, on the
 * sampler's path (`extend` on fresh caches), position 0 null. `hits`, when given, receives for
 * each sequence whether each token (from position 1) is the argmax given the ones before; `top`,
 * each position's `top.k` most likely tokens (position 0 null, see `topLogprobs`).
 */
export function hfLogprobs(
  model: HfModel,
  lora: HfLoraTensors | undefined,
  sequences: readonly number[][],
  hits?: boolean[][],
  top?: { k: number; out: (TopLogprob[] | null)[][] },
): (number | null)[][] {
  const tf = model.tf;
  const V = model.spec.vocab;
  const out: (number | null)[][] = [];
  for (let first = 0; first < sequences.length; first += CHUNK) {
    const chunk = sequences.slice(first, first + CHUNK);
    const caches = chunk.map(() => new HfKvCache(model.spec.layers));
    try {
      const hidden = model.extend(
        chunk.map((tokens, i) => ({ cache: caches[i]!, tokens })),
        lora,
      );
      let row = 0;
      try {
        // One sequence's logits at a time: rows × vocab floats can be large.
        for (const tokens of chunk) {
          const logitsT = tf.tidy(() => model.logits(tf.slice(hidden, [row, 0], [tokens.length, -1])));
          const logits = logitsT.dataSync() as Float32Array;
          logitsT.dispose();
          const lp: (number | null)[] = [null];
          const hit: boolean[] = [false];
          const tops: (TopLogprob[] | null)[] = [null];
          for (let t = 1; t < tokens.length; t++) {
            const l = logits.subarray((t - 1) * V, t * V);
            const n = fullNormalizer(l);
            lp.push(l[tokens[t]!]! - n.logZ);
            hit.push(n.argmax === tokens[t]);
            if (top) tops.push(topLogprobs(l, n.logZ, top.k));
          }
          out.push(lp);
          hits?.push(hit);
          top?.out.push(tops);
          row += tokens.length;
        }
      } finally {
        hidden.dispose();
      }
    } finally {
      for (const c of caches) c.dispose();
    }
  }
  return out;
}

/** Mean over positions of the final-normed hidden states, one vector per sequence. */
export function hfEmbeddings(model: HfModel, lora: HfLoraTensors | undefined, sequences: readonly number[][]): number[][] {
  const d = model.spec.hidden;
  const out: number[][] = [];
  for (const tokens of sequences) {
    const cache = new HfKvCache(model.spec.layers);
    try {
      const hidden = model.extend([{ cache, tokens }], lora);
      const h = hidden.dataSync() as Float32Array;
      hidden.dispose();
      const v = new Array<number>(d).fill(0);
      for (let t = 0; t < tokens.length; t++) for (let j = 0; j < d; j++) v[j]! += h[t * d + j]!;
      out.push(v.map((x) => x / tokens.length));
    } finally {
      cache.dispose();
    }
  }
  return out;
}
