import type { Tensor2D } from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { policyLoss } from "../../src/server/engine/rl-loss.js";
import { type Tf, loadTf } from "../../src/server/engine/tf-loader.js";
import { BOS, PAD } from "../../src/server/engine/tokenizer.js";
import { EngineError, type Example } from "../../src/server/engine/types.js";
import { sharedCore, tinyConfig } from "./helpers.js";

let tf: Tf;
beforeAll(async () => {
  tf = await loadTf();
});

const LOW = 0.8;
const HIGH = 1.2;

/** log-softmax of a row over every column but `skip`, in float64. */
function logprob(row: number[], target: number, skip: number[] = []): number {
  const kept = row.filter((_, i) => !skip.includes(i));
  const max = Math.max(...kept);
  const z = kept.reduce((a, v) => a + Math.exp(v - max), 0);
  return row[target]! - max - Math.log(z);
}

/**
 * The formulas by hand, in float64: loss and dloss/dlogits (one row per position).
 * For ppo, the gradient flows only where the unclipped term is the minimum.
 */
function byHand(kind: "importance_sampling" | "ppo" | "cispo", logits: number[][], targets: number[], q: number[], adv: number[]) {
  const N = targets.filter((t) => t >= 0).length;
  let loss = 0;
  const grad = logits.map((row, i) => {
    const t = targets[i]!;
    if (t < 0) return row.map(() => 0);
    const p = logprob(row, t);
    const r = Math.exp(p - q[i]!);
    const clipped = Math.min(Math.max(r, LOW), HIGH);
    const unclippedTerm = r * adv[i]!;
    const clippedTerm = clipped * adv[i]!;
    const term = kind === "ppo" ? Math.min(unclippedTerm, clippedTerm) : kind === "cispo" ? clippedTerm * p : unclippedTerm;
    loss -= term / N;
    const flows = kind === "importance_sampling" || unclippedTerm <= clippedTerm;
    // cispo: the clipped ratio is a constant weight (no gradient through it), so dloss/dp = -clip(r)·A/N everywhere.
    const dLdp = kind === "cispo" ? (-clipped * adv[i]!) / N : flows ? (-r * adv[i]!) / N : 0;
    const max = Math.max(...row);
    const z = row.reduce((a, v) => a + Math.exp(v - max), 0);
    return row.map((v, j) => dLdp * ((j === t ? 1 : 0) - Math.exp(v - max) / z));
  });
  return { loss, grad };
}

function opLossAndGrad(kind: "importance_sampling" | "ppo" | "cispo", logits: number[][], targets: number[], q: number[], adv: number[]) {
  const V = logits[0]!.length;
  const mask = tf.zeros([1, V]) as Tensor2D;
  const onehot = tf.cast(tf.oneHot(tf.tensor1d(targets, "int32"), V), "float32") as Tensor2D;
  const batch = {
    sampler: Float32Array.from(q),
    advantages: Float32Array.from(adv),
    mask: Float32Array.from(targets.map((t) => (t >= 0 ? 1 : 0))),
    numTargets: targets.filter((t) => t >= 0).length,
  };
  const x = tf.tensor2d(logits);
  const f = policyLoss(tf, onehot, mask, batch, { loss_fn: kind, clip_low_threshold: LOW, clip_high_threshold: HIGH });
  const { value, grad } = tf.valueAndGrad((l) => f(l as Tensor2D))(x);
  return { loss: value.dataSync()[0]!, grad: grad.arraySync() as number[][] };
}

describe("RL losses against a hand computation", () => {
  // Four positions with logits chosen so that, for a target's p, the ratios fall on each side
  // of the clip range; q sets the ratio: q = p - log(r).
  const logits = [
    [0.5, -1.0, 2.0, 0.1],
    [1.5, 0.2, -0.3, 0.4],
    [-0.2, 0.9, 0.3, -1.1],
    [0.0, 0.0, 1.0, 2.0],
    [0.3, 0.1, 0.2, 0.0],
  ];
  const targets = [2, 0, 1, 3, -1];
  const ratios = [1.5, 0.5, 1.5, 0.5, 1];
  // A > 0 with r > high: clipped, no gradient. A < 0 with r < low: clipped, no gradient.
  // A < 0 with r > high and A > 0 with r < low: unclipped is the minimum, gradient flows.
  const adv = [2.0, -1.5, -0.7, 1.2, 0];
  const q = logits.map((row, i) => (targets[i]! >= 0 ? logprob(row, targets[i]!) - Math.log(ratios[i]!) : 0));

  for (const kind of ["importance_sampling", "ppo", "cispo"] as const) {
    it(`${kind}: loss and gradient w.r.t. the logits`, () => {
      const want = byHand(kind, logits, targets, q, adv);
      const got = opLossAndGrad(kind, logits, targets, q, adv);
      expect(got.loss).toBeCloseTo(want.loss, 5);
      got.grad.forEach((row, i) => row.forEach((g, j) => expect(g).toBeCloseTo(want.grad[i]![j]!, 5)));
    });
  }

  it("ppo: no gradient on either clipped side, the IS gradient on the unclipped ones", () => {
    const is = byHand("importance_sampling", logits, targets, q, adv);
    const got = opLossAndGrad("ppo", logits, targets, q, adv);
    // Position 0 (A > 0, r > high) and position 1 (A < 0, r < low) are clipped.
    for (const i of [0, 1]) expect(got.grad[i]!.every((g) => g === 0)).toBe(true);
    for (const i of [2, 3]) got.grad[i]!.forEach((g, j) => expect(g).toBeCloseTo(is.grad[i]![j]!, 5));
    // The clipped terms count with the clipped ratio: HIGH·A for position 0, LOW·A for position 1.
    const N = 4;
    const expected = -(HIGH * adv[0]! + LOW * adv[1]! + ratios[2]! * adv[2]! + ratios[3]! * adv[3]!) / N;
    expect(got.loss).toBeCloseTo(expected, 5);
  });

  it("cispo: every token keeps a gradient, weighted by its clipped ratio; inside the clip it is importance_sampling's", () => {
    const is = byHand("importance_sampling", logits, targets, q, adv);
    const got = opLossAndGrad("cispo", logits, targets, q, adv);
    // Positions 0 and 2 (r = 1.5 > high) and 1 and 3 (r = 0.5 < low) are clipped, on both sides,
    // yet have a gradient: importance_sampling's scaled by clip(r)/r.
    for (const i of [0, 1, 2, 3]) {
      const scale = Math.min(Math.max(ratios[i]!, LOW), HIGH) / ratios[i]!;
      expect(got.grad[i]!.some((g) => g !== 0)).toBe(true);
      got.grad[i]!.forEach((g, j) => expect(g).toBeCloseTo(is.grad[i]![j]! * scale, 5));
    }
    // Inside the clip (r = 1 for a target at its sampler's logprob): exactly importance_sampling's gradient.
    const onPolicy = logits.map((row, i) => (targets[i]! >= 0 ? logprob(row, targets[i]!) : 0));
    const inside = opLossAndGrad("cispo", logits, targets, onPolicy, adv);
    const isInside = byHand("importance_sampling", logits, targets, onPolicy, adv);
    inside.grad.forEach((row, i) => row.forEach((g, j) => expect(g).toBeCloseTo(isInside.grad[i]![j]!, 5)));
  });
});

describe("RL losses in the engine", () => {
  const tokens = [BOS, 49, 43, 50, 61, 51];

  it("importance_sampling's loss is -Σ r·A / N over the training graph's logits", async () => {
    const core = await sharedCore();
    core.createRun("is", tinyConfig());
    const logits = core.trainLogits("is", [{ tokens }]);
    const V = logits.length / tokens.length;
    const q = tokens.map((_, t) => (t === 0 ? 0 : -2 - 0.1 * t));
    const advantages = tokens.map((_, t) => (t === 0 ? 0 : t % 2 ? 1 : -0.5));
    let want = 0;
    for (let t = 1; t < tokens.length; t++) {
      const row = Array.from(logits.subarray((t - 1) * V, t * V));
      const p = logprob(row, tokens[t]!, [BOS, PAD]);
      want -= (Math.exp(p - q[t]!) * advantages[t]!) / (tokens.length - 1);
    }
    const r = core.forwardBackward("is", [{ tokens, logprobs: q, advantages }], { loss_fn: "importance_sampling" });
    expect(r.loss).toBeCloseTo(want, 5);
    expect(r.num_tokens).toBe(tokens.length - 1);
    expect(r.grad_norm).toBeGreaterThan(0);
  });

  it("ppo equals importance_sampling inside the clip range and has no gradient when every ratio is clipped", async () => {
    const core = await sharedCore();
    core.createRun("ppo-a", tinyConfig());
    core.createRun("ppo-b", tinyConfig());
    const onPolicy = core.forward({ runId: "ppo-a" }, [{ tokens }]).logprobs[0]!.map((v) => v ?? 0);
    const advantages = tokens.map((_, t) => (t === 0 ? 0 : 1));
    const example = { tokens, logprobs: onPolicy, advantages };
    const is = core.forwardBackward("ppo-a", [example], { loss_fn: "importance_sampling" });
    const ppo = core.forwardBackward("ppo-b", [example], { loss_fn: "ppo" });
    expect(ppo.loss).toBe(is.loss);
    expect(ppo.grad_norm).toBe(is.grad_norm);
    // Sampler logprobs far below the current ones: r >> high with A > 0, clipped everywhere.
    const stale = { tokens, logprobs: onPolicy.map((v, t) => (t === 0 ? 0 : v - 3)), advantages };
    const clipped = core.forwardBackward("ppo-b", [stale], { loss_fn: "ppo", clip_low_threshold: 0.8, clip_high_threshold: 1.2 });
    expect(clipped.grad_norm).toBe(0);
    expect(clipped.loss).toBeCloseTo(-1.2, 5);
  });

  const bad: [string, Example[], Parameters<Awaited<ReturnType<typeof sharedCore>>["forwardBackward"]>[2], string][] = [
    ["an RL loss without logprobs", [{ tokens, advantages: tokens.map(() => 1) }], { loss_fn: "importance_sampling" }, "batch[0].logprobs"],
    ["an RL loss without advantages", [{ tokens, logprobs: tokens.map(() => -1) }], { loss_fn: "ppo" }, "batch[0].advantages"],
    ["lengths that disagree", [{ tokens, logprobs: [-1, -1], advantages: tokens.map(() => 1) }], { loss_fn: "ppo" }, "batch[0].logprobs"],
    [
      "a non-finite advantage",
      [{ tokens, logprobs: tokens.map(() => -1), advantages: tokens.map((_, i) => (i === 2 ? Number.NaN : 1)) }],
      { loss_fn: "ppo" },
      "batch[0].advantages",
    ],
    ["a text example", [{ text: "abc" }], { loss_fn: "importance_sampling" }, "batch[0]"],
    ["clip thresholds with cross_entropy", [{ text: "abc" }], { loss_fn: "cross_entropy", clip_low_threshold: 0.5 }, "loss_fn_config"],
    [
      "clip thresholds with importance_sampling",
      [{ tokens, logprobs: tokens.map(() => -1), advantages: tokens.map(() => 1) }],
      { loss_fn: "importance_sampling", clip_high_threshold: 2 },
      "loss_fn_config",
    ],
    [
      "cispo thresholds that do not straddle 1",
      [{ tokens, logprobs: tokens.map(() => -1), advantages: tokens.map(() => 1) }],
      { loss_fn: "cispo", clip_low_threshold: 0, clip_high_threshold: 0.9 },
      "loss_fn_config",
    ],
    [
      "a ppo low threshold of 0",
      [{ tokens, logprobs: tokens.map(() => -1), advantages: tokens.map(() => 1) }],
      { loss_fn: "ppo", clip_low_threshold: 0 },
      "loss_fn_config",
    ],
    ["cispo without logprobs", [{ tokens, advantages: tokens.map(() => 1) }], { loss_fn: "cispo" }, "batch[0].logprobs"],
    ["linear without advantages", [{ tokens }], { loss_fn: "linear" }, "batch[0].advantages"],
    ["linear with logprobs", [{ tokens, logprobs: tokens.map(() => -1), advantages: tokens.map(() => 1) }], { loss_fn: "linear" }, "batch[0].logprobs"],
    ["linear with weights", [{ tokens, weights: tokens.map(() => 1), advantages: tokens.map(() => 1) }], { loss_fn: "linear" }, "batch[0].weights"],
    ["advantages with cross_entropy", [{ tokens, advantages: tokens.map(() => 1) }], undefined, "batch[0].advantages"],
  ];
  for (const [what, batch, loss, param] of bad) {
    it(`refuses ${what}, naming ${param}, and changes nothing`, async () => {
      const core = await sharedCore();
      core.createRun("bad", tinyConfig());
      const before = core.exportState("bad");
      let error: unknown;
      try {
        core.forwardBackward("bad", batch, loss);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(EngineError);
      expect((error as EngineError).param).toBe(param);
      expect(core.exportState("bad")).toEqual(before);
    });
  }
});
