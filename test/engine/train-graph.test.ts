import type { Scalar, Tensor, Tensor2D } from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBaseSafetensors, loadBaseWeights } from "../../src/server/engine/base-weights.js";
import { encodeBatch } from "../../src/server/engine/encode-batch.js";
import { type LoraParams, initLora } from "../../src/server/engine/lora.js";
import { MODEL_CONFIGS, byteLayout } from "../../src/server/engine/models.js";
import { Rng } from "../../src/server/engine/rng.js";
import { type Tf, loadTf } from "../../src/server/engine/tf-loader.js";
import { TrainGraph } from "../../src/server/engine/train-graph.js";
import type { TargetModule } from "../../src/server/engine/types.js";
import { tinyConfig } from "./helpers.js";

let tf: Tf;
beforeAll(async () => {
  tf = await loadTf();
});

const mc = MODEL_CONFIGS.get("signal-byte-tiny")!;
const base = loadBaseWeights(mc, initBaseSafetensors(mc));
const batch = encodeBatch(
  [{ prompt: "Q: cat?\nA:", completion: " meow" }, { text: "the sea is wide" }, { tokens: [256, 104, 105, 257], weights: [0, 1, 2, 1] }],
  mc.context_length,
);

function lora(targets: TargetModule[], seed: number): LoraParams {
  const l = initLora(byteLayout(mc), tinyConfig({ target_modules: targets, seed }));
  const rng = new Rng(seed, 77);
  for (const p of l.pairs) for (let i = 0; i < p.bt.length; i++) p.bt[i] = rng.normal() * 0.1;
  return l;
}

/** The same model written with plain tfjs ops, differentiated by tfjs's own autodiff. */
function referenceLoss(l: LoraParams, params: Tensor[]): Tensor {
  const { rows, seq } = batch;
  const d = mc.d_model;
  const heads = mc.n_heads;
  const dh = d / heads;
  const t2 = (data: Float32Array, r: number, c: number) => tf.tensor2d(data, [r, c]);
  const ln = (x: Tensor, g: Float32Array, b: Float32Array) => {
    const xc = tf.sub(x, tf.mean(x, 1, true));
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(tf.mean(tf.square(xc), 1, true), 1e-5))), tf.tensor1d(g)), tf.tensor1d(b));
  };
  const posIdx = Array.from({ length: rows * seq }, (_, i) => i % seq);
  let x: Tensor = tf.add(
    tf.gather(t2(base.embed, mc.vocab_size, d), tf.tensor1d(batch.tokens, "int32")),
    tf.gather(t2(base.pos, mc.context_length, d), tf.tensor1d(posIdx, "int32")),
  );
  const mask = tf.tensor2d(
    Array.from({ length: seq * seq }, (_, i) => (i % seq > Math.floor(i / seq) ? -1e9 : 0)),
    [seq, seq],
  );
  base.layers.forEach((lw, li) => {
    const proj = (m: TargetModule, w: Float32Array, input: Tensor) => {
      let y = tf.matMul(input as Tensor2D, t2(w, d, d));
      const i = l.pairs.findIndex((p) => p.layer === li && p.module === m);
      if (i >= 0) y = tf.add(y, tf.mul(tf.matMul(tf.matMul(input as Tensor2D, params[2 * i] as Tensor2D), params[2 * i + 1] as Tensor2D), l.scale));
      return y;
    };
    const h = ln(x, lw.ln1G, lw.ln1B);
    const split = (t: Tensor) => tf.transpose(tf.reshape(t, [rows, seq, heads, dh]), [0, 2, 1, 3]);
    const s = tf.add(tf.mul(tf.matMul(split(proj("q_proj", lw.q, h)), split(proj("k_proj", lw.k, h)), false, true), 1 / Math.sqrt(dh)), mask);
    const att = tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), split(proj("v_proj", lw.v, h))), [0, 2, 1, 3]), [rows * seq, d]);
    x = tf.add(x, proj("o_proj", lw.o, att));
    const u = tf.matMul(ln(x, lw.ln2G, lw.ln2B) as Tensor2D, t2(lw.up, d, mc.d_ff));
    const c = Math.sqrt(2 / Math.PI);
    const g = tf.mul(tf.mul(u, 0.5), tf.add(tf.tanh(tf.mul(tf.add(u, tf.mul(tf.pow(u, 3), 0.044715)), c)), 1));
    x = tf.add(x, tf.matMul(g as Tensor2D, t2(lw.down, mc.d_ff, d)));
  });
  const logits = tf.matMul(ln(x, base.normG, base.normB) as Tensor2D, t2(base.head, d, mc.vocab_size));
  const onehot = tf.cast(tf.oneHot(tf.tensor1d(batch.targets, "int32"), mc.vocab_size), "float32");
  return tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(tf.logSoftmax(logits), onehot), 1, true), tf.tensor2d(batch.weights, [batch.weights.length, 1]))));
}

describe("training graph", () => {
  const cases: TargetModule[][] = [["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj"], ["o_proj"], ["k_proj"]];
  for (const targets of cases) {
    it(`loss and every LoRA gradient match tfjs autodiff of the plain model (targets ${targets.join(", ")})`, () => {
      const l = lora(targets, 5);
      const graph = new TrainGraph(tf, base);
      const { loss, grads } = graph.lossAndGrads(batch, l);
      const ref = tf.tidy(() => {
        const params = l.pairs.flatMap((p) => [tf.tensor2d(p.at, [mc.d_model, l.r]), tf.tensor2d(p.bt, [l.r, mc.d_model])]);
        const { value, grads: g } = tf.valueAndGrads((...p: Tensor[]) => referenceLoss(l, p) as Scalar)(params);
        return { loss: value.dataSync()[0]!, grads: g.map((t) => t.dataSync() as Float32Array) };
      });
      expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      grads.flat().forEach((g, i) => {
        const r = ref.grads[i]!;
        let scale = 1e-12;
        for (const v of r) scale = Math.max(scale, Math.abs(v));
        let worst = 0;
        for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j]! - r[j]!));
        expect(worst / scale, `gradient ${i}`).toBeLessThan(1e-4);
      });
      graph.dispose();
    });
  }

  it("is deterministic: the same batch gives bit-identical loss and gradients", () => {
    const l = lora(["q_proj", "v_proj"], 6);
    const graph = new TrainGraph(tf, base);
    const a = graph.lossAndGrads(batch, l);
    const b = graph.lossAndGrads(batch, l);
    expect(b.loss).toBe(a.loss);
    a.grads.flat().forEach((g, i) => expect(Buffer.from(b.grads.flat()[i]!.buffer).equals(Buffer.from(g.buffer))).toBe(true));
    graph.dispose();
  });
});
