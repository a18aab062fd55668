import type { Tensor, Tensor2D } from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { causalAttention, frozenLinear, gelu, layerNorm, loraLinear, weightedCrossEntropy } from "../../src/server/engine/grad-ops.js";
import { Rng } from "../../src/server/engine/rng.js";
import { type Tf, loadTf } from "../../src/server/engine/tf-loader.js";

let tf: Tf;
beforeAll(async () => {
  tf = await loadTf();
});

function rand(shape: number[], seed: number): Tensor2D {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.normal()),
    shape as [number, number],
  ) as Tensor2D;
}

/** Largest absolute difference between the custom and the reference gradients, relative to scale. */
function compareGrads(custom: (...x: Tensor[]) => Tensor, reference: (...x: Tensor[]) => Tensor, inputs: Tensor[]): number {
  return tf.tidy(() => {
    // A random projection of the output makes every output element matter to the scalar.
    const probe = rand(custom(...inputs).shape, 99);
    const g1 = tf.grads((...x: Tensor[]) => tf.sum(tf.mul(custom(...x), probe)))(inputs);
    const g2 = tf.grads((...x: Tensor[]) => tf.sum(tf.mul(reference(...x), probe)))(inputs);
    let worst = 0;
    g1.forEach((g, i) => {
      const a = g.dataSync();
      const b = g2[i]!.dataSync();
      let scale = 1e-6;
      for (const v of b) scale = Math.max(scale, Math.abs(v));
      for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j]! - b[j]!) / scale);
    });
    return worst;
  });
}

describe("custom gradients agree with tfjs autodiff", () => {
  it("frozen linear: gradient w.r.t. the input", () => {
    const w = rand([6, 5], 1);
    const wT = w.transpose() as Tensor2D;
    const err = compareGrads(
      (x) => frozenLinear(tf, x as Tensor2D, w, wT),
      (x) => tf.matMul(x as Tensor2D, w),
      [rand([4, 6], 2)],
    );
    expect(err).toBeLessThan(1e-5);
  });

  it("LoRA linear: gradients w.r.t. input, A and B", () => {
    const w = rand([6, 5], 1);
    const wT = w.transpose() as Tensor2D;
    const err = compareGrads(
      (x, a, b) => loraLinear(tf, x as Tensor2D, w, wT, a as Tensor2D, b as Tensor2D, 1.7),
      (x, a, b) => tf.add(tf.matMul(x as Tensor2D, w), tf.mul(tf.matMul(tf.matMul(x as Tensor2D, a as Tensor2D), b as Tensor2D), 1.7)),
      [rand([4, 6], 2), rand([6, 3], 3), rand([3, 5], 4)],
    );
    expect(err).toBeLessThan(1e-5);
  });

  // head sizes 4 and 32, sequence lengths that are and are not a multiple of the kernels' four lanes
  for (const [batch, seq, heads, d] of [
    [2, 5, 2, 8],
    [3, 37, 4, 128],
    [1, 64, 2, 64],
  ] as const) {
    it(`causal attention: values and gradients w.r.t. q, k and v (batch ${batch}, seq ${seq}, ${heads} heads, d ${d})`, () => {
      const mask = tf.tensor2d(
        Array.from({ length: seq * seq }, (_, i) => (i % seq > Math.floor(i / seq) ? -1e9 : 0)),
        [seq, seq],
      );
      const reference = (q: Tensor, k: Tensor, v: Tensor) => {
        const split = (t: Tensor) => tf.transpose(tf.reshape(t, [batch, seq, heads, d / heads]), [0, 2, 1, 3]);
        const s = tf.add(tf.mul(tf.matMul(split(q), split(k), false, true), 1 / Math.sqrt(d / heads)), mask);
        const o = tf.matMul(tf.softmax(s), split(v));
        return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [batch * seq, d]);
      };
      const custom = (q: Tensor, k: Tensor, v: Tensor) => causalAttention(tf, q as Tensor2D, k as Tensor2D, v as Tensor2D, batch, seq, heads);
      const inputs = [rand([batch * seq, d], 5), rand([batch * seq, d], 6), rand([batch * seq, d], 7)];
      const got = custom(inputs[0]!, inputs[1]!, inputs[2]!).dataSync();
      const want = reference(inputs[0]!, inputs[1]!, inputs[2]!).dataSync();
      expect(Math.max(...Array.from(got, (x, i) => Math.abs(x - want[i]!)))).toBeLessThan(1e-5);
      expect(
        compareGrads(
          (q, k, v) => custom(q!, k!, v!),
          (q, k, v) => reference(q!, k!, v!),
          inputs,
        ),
      ).toBeLessThan(1e-5);
    });
  }

  it("causal attention: only the gradients asked for are computed, the others are zeros", () => {
    const [batch, seq, heads, d] = [2, 9, 2, 16];
    const inputs = [rand([batch * seq, d], 5), rand([batch * seq, d], 6), rand([batch * seq, d], 7)];
    const probe = rand([batch * seq, d], 99);
    const grads = (needGrads: { q: boolean; k: boolean; v: boolean }) =>
      tf
        .grads((q: Tensor, k: Tensor, v: Tensor) =>
          tf.sum(tf.mul(causalAttention(tf, q as Tensor2D, k as Tensor2D, v as Tensor2D, batch, seq, heads, needGrads), probe)),
        )(inputs)
        .map((g) => Array.from(g.dataSync()));
    const all = grads({ q: true, k: true, v: true });
    const some = grads({ q: false, k: true, v: false });
    expect(some[1]).toEqual(all[1]);
    expect(some[0]!.every((x) => x === 0) && some[2]!.every((x) => x === 0)).toBe(true);
    expect(all[0]!.some((x) => x !== 0) && all[2]!.some((x) => x !== 0)).toBe(true);
  });

  for (const shape of [
    [3, 7],
    [16, 512],
  ]) {
    it(`GELU: values and gradient (${shape.join(" × ")})`, () => {
      const c = Math.sqrt(2 / Math.PI);
      const reference = (x: Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), c)), 1));
      const x = tf.mul(rand(shape, 8), 3);
      const got = gelu(tf, x).dataSync();
      const want = reference(x).dataSync();
      expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-5);
      expect(
        compareGrads(
          (v) => gelu(tf, v!),
          (v) => reference(v!),
          [x],
        ),
      ).toBeLessThan(1e-5);
    });
  }

  for (const [rows, d] of [
    [5, 8],
    [64, 128],
  ] as const) {
    it(`LayerNorm: values and gradient w.r.t. the input (${rows} × ${d})`, () => {
      const g = tf.add(tf.mul(rand([d], 10), 0.5), 1);
      const b = tf.mul(rand([d], 11), 0.5);
      const reference = (x: Tensor) => {
        const xc = tf.sub(x, tf.mean(x, 1, true));
        return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), 1, true), 1e-5))), g), b);
      };
      const x = tf.add(tf.mul(rand([rows, d], 12), 2), 0.5) as Tensor2D;
      const got = layerNorm(tf, x, g, b, 1e-5).dataSync();
      const want = reference(x).dataSync();
      expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-5);
      expect(
        compareGrads(
          (v) => layerNorm(tf, v as Tensor2D, g, b, 1e-5),
          (v) => reference(v!),
          [x],
        ),
      ).toBeLessThan(1e-5);
    });
  }

  it("weighted cross-entropy", () => {
    const onehot = tf.cast(tf.oneHot(tf.tensor1d([2, 0, -1], "int32"), 4), "float32") as Tensor2D;
    const weights = tf.tensor2d([[0.25], [0.75], [0]]);
    const reference = (l: Tensor) => tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(tf.logSoftmax(l), onehot), 1, true), weights)));
    const logits = rand([3, 4], 9);
    expect(
      compareGrads(
        (l) => weightedCrossEntropy(tf, l as Tensor2D, onehot, weights),
        (l) => reference(l!),
        [logits],
      ),
    ).toBeLessThan(1e-5);
    expect(weightedCrossEntropy(tf, logits, onehot, weights).dataSync()[0]).toBeCloseTo(reference(logits).dataSync()[0]!, 5);
  });
});
