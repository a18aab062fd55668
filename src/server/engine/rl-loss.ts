import type { GradSaveFunc, Scalar, Tensor, Tensor2D } from "@tensorflow/tfjs";
import { BYTE_CODEC, type TokenCodec } from "./codec.js";
import type { EncodedBatch } from "./encode-batch.js";
import { BOS, PAD } from "./tokenizer.js";
import type { Tf } from "./tf-loader.js";
import { EngineError, type Example, FLOAT32_MAX, type LossSpec } from "./types.js";

/** The clip thresholds of `ppo` when `loss_fn_config` leaves them out. */
const PPO_DEFAULTS = { clip_low_threshold: 0.8, clip_high_threshold: 1.2 } as const;

/** The clip thresholds of `cispo` when `loss_fn_config` leaves them out (Tinker's cookbook). */
const CISPO_DEFAULTS = { clip_low_threshold: 0, clip_high_threshold: 4 } as const;

/** The RL losses: they need the sampler's logprobs and per-token advantages. */
export type PolicyLossFn = "importance_sampling" | "ppo" | "cispo";

/** The losses that read `loss_fn_config`. */
const CLIPPED = ["ppo", "cispo"];

/** The clip thresholds of a `ppo` or `cispo` call: the given ones, else that loss's defaults. */
export function clipThresholds(loss: LossSpec): { low: number; high: number } {
  const d = loss.loss_fn === "cispo" ? CISPO_DEFAULTS : PPO_DEFAULTS;
  return { low: loss.clip_low_threshold ?? d.clip_low_threshold, high: loss.clip_high_threshold ?? d.clip_high_threshold };
}

/** An RL batch as the training graph takes it: rows padded like `EncodedBatch`, one entry per input position. */
export interface PolicyBatch {
  rows: number;
  seq: number;
  /** `[rows*seq]` input ids. */
  tokens: Int32Array;
  /** `[rows*seq]` the next token (the target), -1 where there is none. */
  targets: Int32Array;
  /** `[rows*seq]` sampler log-probability of the target. */
  sampler: Float32Array;
  /** `[rows*seq]` advantage of the target. */
  advantages: Float32Array;
  /** `[rows*seq]` 1 where there is a target. */
  mask: Float32Array;
  /** Target positions in the batch: the N of the formulas. */
  numTargets: number;
}

/** True for the losses that read `logprobs` and `advantages`. */
export function isPolicyLoss(loss: LossSpec | undefined): loss is LossSpec & { loss_fn: PolicyLossFn } {
  return loss?.loss_fn === "importance_sampling" || loss?.loss_fn === "ppo" || loss?.loss_fn === "cispo";
}

/**
 * The one rule for `loss_fn_config`: only ppo and cispo read it, so giving one (even `{}`, or the
 * engine's clip thresholds) with another loss is refused.
 * @throws EngineError `invalid_example` naming `loss_fn_config`.
 */
export function checkLossConfig(lossFn: string, configGiven: boolean): void {
  if (configGiven && !CLIPPED.includes(lossFn))
    throw new EngineError("invalid_example", `loss_fn_config is only used by ppo and cispo (loss_fn is ${lossFn})`, "loss_fn_config");
}

/**
 * Checks a batch against its loss before any work: an RL loss needs every example to be
 * `{tokens, logprobs, advantages}` with the three of equal length, finite values and no
 * `weights`; the clip thresholds belong to `ppo` and `cispo` only and must straddle 1 (ppo's low
 * one above 0). `linear` needs `{tokens, advantages}` (its coefficients) and nothing else. The server calls this
 * before queueing the call, and the engine again (it may be used on its own).
 * @throws EngineError `invalid_example` naming the field (`batch[i].logprobs`, `loss_fn_config`, ...).
 */
export function checkLoss(batch: Example[], loss: LossSpec | undefined): void {
  const fn = loss?.loss_fn ?? "cross_entropy";
  const hasClip = loss?.clip_low_threshold !== undefined || loss?.clip_high_threshold !== undefined;
  checkLossConfig(fn, hasClip);
  if (loss && CLIPPED.includes(fn)) {
    const { low, high } = clipThresholds(loss);
    const lowOk = fn === "ppo" ? low > 0 : low >= 0;
    if (!(lowOk && low <= 1 && high >= 1 && low < high)) {
      throw new EngineError(
        "invalid_example",
        `loss_fn_config needs ${fn === "ppo" ? "0 <" : "0 <="} clip_low_threshold <= 1 <= clip_high_threshold with low < high for ${fn}; got ${low} and ${high}`,
        "loss_fn_config",
      );
    }
  }
  if (!Array.isArray(batch)) return;
  batch.forEach((example, i) => {
    const e = example as Record<string, unknown>;
    const param = `batch[${i}]`;
    if (fn === "cross_entropy") {
      for (const field of ["logprobs", "advantages"] as const) {
        if (e?.[field] !== undefined)
          throw new EngineError(
            "invalid_example",
            `${param}.${field} is only used by importance_sampling, ppo, cispo and linear; loss_fn is cross_entropy`,
            `${param}.${field}`,
          );
      }
      return;
    }
    const linear = fn === "linear";
    if (!Array.isArray(e?.tokens))
      throw new EngineError("invalid_example", `${param}: ${fn} needs {tokens, ${linear ? "" : "logprobs, "}advantages} examples`, param);
    if (e.weights !== undefined)
      throw new EngineError("invalid_example", `${param}.weights is not used by ${fn}; give an advantage of 0 to leave a position out`, `${param}.weights`);
    if (linear && e.logprobs !== undefined)
      throw new EngineError("invalid_example", `${param}.logprobs is not used by linear (its coefficients are the advantages)`, `${param}.logprobs`);
    const n = e.tokens.length;
    for (const field of linear ? (["advantages"] as const) : (["logprobs", "advantages"] as const)) {
      const values = e[field];
      if (values === undefined) throw new EngineError("invalid_example", `${param}.${field} is required by ${fn}`, `${param}.${field}`);
      if (!Array.isArray(values) || values.length !== n) {
        const len = Array.isArray(values) ? values.length : "not an array";
        throw new EngineError("invalid_example", `${param}.${field} has length ${len} but tokens has length ${n}`, `${param}.${field}`);
      }
      // Within float32's range, where the engine computes: a number past it would be infinite there.
      const bad = values.findIndex((v, j) => j > 0 && (typeof v !== "number" || !(Math.abs(v) <= FLOAT32_MAX) || (field === "logprobs" && v > 0)));
      if (bad >= 0) {
        const what = field === "logprobs" ? "a number <= 0 within float32's range (>= -3.4e38)" : "a number within float32's range (±3.4e38)";
        throw new EngineError("invalid_example", `${param}.${field}[${bad}] is ${String(values[bad])}; it must be ${what}`, `${param}.${field}`);
      }
    }
  });
}

/**
 * The ids of token examples against the vocabulary, and their lengths against the context; with
 * `sampledTargets`, also that no target is an id a sampler never produces (an RL target must be
 * one a sample can hold).
 * @throws EngineError `invalid_example` naming `batch[i].tokens[j]`, `context_length_exceeded` naming `batch[i]`.
 */
function checkTokenRows(examples: readonly { tokens: number[] }[], contextLength: number, codec: TokenCodec, sampledTargets: boolean): void {
  examples.forEach((e, i) => {
    const bad = e.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= codec.vocabSize);
    if (bad >= 0)
      throw new EngineError(
        "invalid_example",
        `batch[${i}].tokens[${bad}] is ${String(e.tokens[bad])}; token ids are integers in [0, ${codec.vocabSize})`,
        `batch[${i}].tokens[${bad}]`,
      );
    const special = sampledTargets ? e.tokens.findIndex((t, j) => j > 0 && codec.neverSampled.includes(t)) : -1;
    if (special >= 0)
      throw new EngineError(
        "invalid_example",
        `batch[${i}].tokens[${special}] is ${e.tokens[special]}, which a sampler never produces: an RL target must be a token a sample can hold`,
        `batch[${i}].tokens[${special}]`,
      );
    if (e.tokens.length > contextLength)
      throw new EngineError(
        "context_length_exceeded",
        `batch[${i}] is ${e.tokens.length} tokens but the model's context length is ${contextLength}`,
        `batch[${i}]`,
      );
  });
}

/**
 * Encodes a checked RL batch (see `checkLoss`): rows padded with PAD, and for input position
 * t the target `tokens[t+1]` with its sampler logprob and advantage.
 * @throws EngineError `context_length_exceeded` (param `batch[i]`), `invalid_example` for bad ids.
 */
export function encodePolicyBatch(batch: Example[], contextLength: number, codec: TokenCodec = BYTE_CODEC): PolicyBatch {
  if (!Array.isArray(batch) || batch.length === 0) throw new EngineError("invalid_example", "batch must hold at least one example", "batch");
  const examples = batch as { tokens: number[]; logprobs: number[]; advantages: number[] }[];
  checkTokenRows(examples, contextLength, codec, true);
  const rows = examples.length;
  const seq = Math.max(2, ...examples.map((e) => e.tokens.length));
  const tokens = new Int32Array(rows * seq).fill(codec.pad);
  const targets = new Int32Array(rows * seq).fill(-1);
  const sampler = new Float32Array(rows * seq);
  const advantages = new Float32Array(rows * seq);
  const mask = new Float32Array(rows * seq);
  let numTargets = 0;
  examples.forEach((e, r) => {
    for (let t = 0; t < e.tokens.length; t++) {
      tokens[r * seq + t] = e.tokens[t]!;
      if (t === 0) continue;
      const o = r * seq + t - 1;
      targets[o] = e.tokens[t]!;
      sampler[o] = e.logprobs[t]!;
      advantages[o] = e.advantages[t]!;
      mask[o] = 1;
      numTargets++;
    }
  });
  return { rows, seq, tokens, targets, sampler, advantages, mask, numTargets };
}

/**
 * Encodes a checked `linear` batch (see `checkLoss`) as the cross-entropy path takes it, with
 * `weights` the coefficients as given (signed, not normalised): the loss -Σ A·p. `numTokens` is
 * the number of target positions.
 * @throws EngineError as `encodePolicyBatch`.
 */
export function encodeLinearBatch(batch: Example[], contextLength: number, codec: TokenCodec = BYTE_CODEC): EncodedBatch {
  if (!Array.isArray(batch) || batch.length === 0) throw new EngineError("invalid_example", "batch must hold at least one example", "batch");
  const examples = batch as { tokens: number[]; advantages: number[] }[];
  checkTokenRows(examples, contextLength, codec, false);
  const rows = examples.length;
  const seq = Math.max(2, ...examples.map((e) => e.tokens.length));
  const tokens = new Int32Array(rows * seq).fill(codec.pad);
  const targets = new Int32Array(rows * seq).fill(-1);
  const weights = new Float32Array(rows * seq);
  let numTokens = 0;
  examples.forEach((e, r) => {
    for (let t = 0; t < e.tokens.length; t++) {
      tokens[r * seq + t] = e.tokens[t]!;
      if (t === 0) continue;
      numTokens++;
      if (e.advantages[t] === 0) continue;
      targets[r * seq + t - 1] = e.tokens[t]!;
      weights[r * seq + t - 1] = e.advantages[t]!;
    }
  });
  return { rows, seq, tokens, targets, weights, numTokens };
}

/** `[1, vocab]`: 0, and -1e9 at BOS and PAD, so log-probabilities are over what a sample can produce. */
export function samplingMask(tf: Tf, vocab: number): Tensor2D {
  const m = new Float32Array(vocab);
  m[BOS] = -1e9;
  m[PAD] = -1e9;
  return tf.tensor2d(m, [1, vocab]);
}

/**
 * The RL loss of logits (`[n, vocab]`) with its hand-written gradient; the returned function
 * computes it (its constant tensors are made here, outside any gradient scope). With p the current
 * log-probability of the target (over the tokens a sample can produce), q the sampler's,
 * r = exp(p - q), A the advantage and N = `numTargets`:
 * - importance_sampling: loss = -Σ r·A / N, so dloss/dp = -r·A / N;
 * - ppo: loss = -Σ min(r·A, clip(r, low, high)·A) / N; dloss/dp = -r·A / N where the unclipped
 *   term is the smaller (or they tie), else 0 (the clipped term does not depend on p);
 * - cispo: loss = -Σ sg(clip(r, low, high))·A·p / N; dloss/dp = -clip(r, low, high)·A / N (no
 *   gradient through the ratio).
 * dp/dlogits = onehot - softmax, so the gradient w.r.t. the logits is g·(onehot - softmax).
 */
export function policyLoss(
  tf: Tf,
  onehot: Tensor2D,
  columnMask: Tensor2D,
  batch: Pick<PolicyBatch, "sampler" | "advantages" | "mask" | "numTargets">,
  loss: LossSpec & { loss_fn: PolicyLossFn },
): (logits: Tensor2D) => Scalar {
  const n = batch.mask.length;
  const q = tf.tensor2d(batch.sampler, [n, 1]);
  const adv = tf.tensor2d(batch.advantages, [n, 1]);
  const mask = tf.tensor2d(batch.mask, [n, 1]);
  const N = Math.max(1, batch.numTargets);
  const { low, high } = clipThresholds(loss);
  const op = tf.customGrad((li, save) => {
    const l = tf.add(li as Tensor2D, columnMask) as Tensor2D;
    const probs = tf.softmax(l);
    const logp = tf.sum(tf.mul(tf.logSoftmax(l), onehot), 1, true);
    // Padding rows have no target (onehot 0, mask 0): keep their ratio finite, then drop them.
    const ratio = tf.mul(tf.exp(tf.mul(tf.sub(logp, q), mask)), mask);
    const unclipped = tf.mul(ratio, adv);
    let term: Tensor = unclipped;
    let coef: Tensor = unclipped;
    if (loss.loss_fn === "ppo") {
      const clipped = tf.mul(tf.clipByValue(ratio, low, high), adv);
      term = tf.minimum(unclipped, clipped);
      coef = tf.where(tf.lessEqual(unclipped, clipped), unclipped, tf.zerosLike(unclipped));
    } else if (loss.loss_fn === "cispo") {
      coef = tf.mul(tf.clipByValue(ratio, low, high), adv);
      term = tf.mul(coef, logp);
    }
    // coef · mask / N = -dloss/dp per row.
    const g = tf.div(tf.mul(coef, mask), N);
    (save as GradSaveFunc)([probs, g]);
    return {
      value: tf.div(tf.neg(tf.sum(tf.mul(term, mask))), N),
      gradFunc: (dy, saved) => tf.mul(tf.mul(tf.sub(saved[0]!, onehot), saved[1]!), dy),
    };
  });
  return (logits) => op(logits) as Scalar;
}
