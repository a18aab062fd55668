import { BYTE_CODEC, type TokenCodec, encodeWithBos } from "./codec.js";
import { EngineError, type Example, FLOAT32_MAX } from "./types.js";

/**
 * A batch as the training graph takes it: rows padded with PAD to the longest row; for each
 * position the next token as target (-1 where there is none) and its normalised loss weight.
 */
export interface EncodedBatch {
  rows: number;
  seq: number;
  /** `[rows*seq]` input ids. */
  tokens: Int32Array;
  /** `[rows*seq]` target ids, -1 where not predicted. */
  targets: Int32Array;
  /** `[rows*seq]` weights divided by their sum. */
  weights: Float32Array;
  /** Sum of raw weights: the batch's weighted target tokens. */
  numTokens: number;
}

/**
 * Turns one example into token ids and per-token loss weights (`weights[i]` weighs predicting
 * `tokens[i]`). `{prompt, completion}` → BOS prompt completion EOS, loss on completion + EOS;
 * `{text}` → BOS text EOS, loss on every token after BOS; `{tokens, weights?}` as given.
 * @throws EngineError `invalid_example` for malformed examples, bad ids or weights.
 */
export function encodeExample(example: Example, index: number, codec: TokenCodec = BYTE_CODEC): { tokens: number[]; weights: number[] } {
  const param = `batch[${index}]`;
  const e = example as Record<string, unknown>;
  if (typeof e !== "object" || e === null) throw new EngineError("invalid_example", `${param} must be an object`, param);
  if (typeof e.prompt === "string" && typeof e.completion === "string") {
    const p = encodeWithBos(codec, e.prompt);
    const c = codec.encode(e.completion);
    const tokens = [...p, ...c, codec.eos];
    // Loss on the completion and EOS; a prompt of no token (no BOS, empty text) leaves position 0 out.
    return { tokens, weights: tokens.map((_, i) => (i >= Math.max(1, p.length) ? 1 : 0)) };
  }
  if (typeof e.text === "string") {
    const tokens = [...encodeWithBos(codec, e.text), codec.eos];
    return { tokens, weights: tokens.map((_, i) => (i > 0 ? 1 : 0)) };
  }
  if (Array.isArray(e.tokens)) {
    const tokens = e.tokens as unknown[];
    const bad = tokens.findIndex((t) => !Number.isInteger(t) || (t as number) < 0 || (t as number) >= codec.vocabSize);
    if (bad >= 0)
      throw new EngineError(
        "invalid_example",
        `${param}.tokens[${bad}] is ${String(tokens[bad])}; token ids are integers in [0, ${codec.vocabSize})`,
        `${param}.tokens[${bad}]`,
      );
    let weights: number[];
    if (e.weights === undefined) {
      weights = tokens.map(() => 1);
    } else {
      if (!Array.isArray(e.weights) || e.weights.length !== tokens.length) {
        const len = Array.isArray(e.weights) ? e.weights.length : "not an array";
        throw new EngineError("invalid_example", `${param}.weights has length ${len} but tokens has length ${tokens.length}`, `${param}.weights`);
      }
      const badW = (e.weights as unknown[]).findIndex((w) => typeof w !== "number" || !(w >= 0 && w <= FLOAT32_MAX));
      if (badW >= 0)
        throw new EngineError(
          "invalid_example",
          `${param}.weights[${badW}] is ${String(e.weights[badW])}; a weight must be a number >= 0 within float32's range (<= 3.4e38)`,
          `${param}.weights`,
        );
      weights = e.weights as number[];
    }
    return { tokens: tokens as number[], weights: weights.map((w, i) => (i === 0 ? 0 : w)) };
  }
  throw new EngineError("invalid_example", `${param} must be {prompt, completion}, {text} or {tokens, weights?}`, param);
}

/**
 * Encodes and validates a cross-entropy batch against the model's context: what
 * `forwardBackward` and `forward` both check. The weighted target tokens must sum to more than
 * 0 and, since the loss divides by that sum in float32, to no more than float32's largest number.
 * @returns each example's tokens and weights, and the sum of the target weights.
 * @throws EngineError `context_length_exceeded` (param `batch[i]`) when an example is longer than
 *   the context; `invalid_example` for an empty batch, a malformed example, a batch with no
 *   weighted target token, or weights whose sum overflows float32 (param `batch[i].weights`).
 */
export function encodeExamples(
  batch: Example[],
  contextLength: number,
  codec: TokenCodec = BYTE_CODEC,
): { encoded: { tokens: number[]; weights: number[] }[]; total: number } {
  if (!Array.isArray(batch) || batch.length === 0) throw new EngineError("invalid_example", "batch must hold at least one example", "batch");
  let total = 0;
  const encoded = batch.map((ex, i) => {
    const enc = encodeExample(ex, i, codec);
    if (enc.tokens.length > contextLength) {
      throw new EngineError(
        "context_length_exceeded",
        `batch[${i}] is ${enc.tokens.length} tokens (with BOS/EOS) but the model's context length is ${contextLength}`,
        `batch[${i}]`,
      );
    }
    for (let t = 1; t < enc.tokens.length; t++) total += enc.weights[t]!;
    if (total > FLOAT32_MAX) {
      throw new EngineError(
        "invalid_example",
        `the token weights of batch[0..${i}] sum to ${total.toPrecision(3)}, past float32's range (3.4e38): the loss would not be finite. Use weights of ordinary size (e.g. 0 to 1).`,
        `batch[${i}].weights`,
      );
    }
    return enc;
  });
  if (!(total > 0)) throw new EngineError("invalid_example", "batch has no weighted target token to train on", "batch");
  return { encoded, total };
}

/**
 * Encodes and validates a batch (see `encodeExamples`) into padded rows.
 * @throws EngineError as `encodeExamples`.
 */
export function encodeBatch(batch: Example[], contextLength: number, codec: TokenCodec = BYTE_CODEC): EncodedBatch {
  const { encoded } = encodeExamples(batch, contextLength, codec);
  const rows = encoded.length;
  const seq = Math.max(2, ...encoded.map((e) => e.tokens.length));
  const tokens = new Int32Array(rows * seq).fill(codec.pad);
  const targets = new Int32Array(rows * seq).fill(-1);
  const weights = new Float32Array(rows * seq);
  let total = 0;
  encoded.forEach((e, r) => {
    for (let t = 0; t < e.tokens.length; t++) {
      tokens[r * seq + t] = e.tokens[t]!;
      if (t > 0 && e.weights[t]! > 0) {
        targets[r * seq + t - 1] = e.tokens[t]!;
        weights[r * seq + t - 1] = e.weights[t]!;
        total += e.weights[t]!;
      }
    }
  });
  if (!(total > 0)) throw new EngineError("invalid_example", "batch has no weighted target token to train on", "batch");
  for (let i = 0; i < weights.length; i++) weights[i] = weights[i]! / total;
  return { rows, seq, tokens, targets, weights, numTokens: total };
}
