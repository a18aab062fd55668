import type { Scalar, Tensor, Tensor2D } from "@tensorflow/tfjs";
import type { BaseWeights } from "./base-weights.js";
import { causalAttention, frozenLinear, gelu, loraLinear, weightedCrossEntropy } from "./grad-ops.js";
import type { EncodedBatch } from "./encode-batch.js";
import type { LoraPair, LoraParams } from "./lora.js";
import type { Tf } from "./tf-loader.js";
import type { TargetModule } from "./types.js";

/** Loss and gradient of one batch, gradients in the pairs' order as `[at, bt]`. */
export interface LossAndGrads {
  loss: number;
  grads: [Float32Array, Float32Array][];
}

interface LayerTensors {
  ln1G: Tensor;
  ln1B: Tensor;
  ln2G: Tensor;
  ln2B: Tensor;
  proj: Record<TargetModule, [Tensor2D, Tensor2D]>;
  up: [Tensor2D, Tensor2D];
  down: [Tensor2D, Tensor2D];
}

const LN_EPS = 1e-5;

/**
 * The training forward/backward pass on tfjs for one base model. Holds the frozen weights as
 * tensors (one copy per model per thread, shared by every run); LoRA parameters come in per call.
 */
export class TrainGraph {
  private readonly embed: Tensor2D;
  private readonly pos: Tensor2D;
  private readonly layers: LayerTensors[];
  private readonly normG: Tensor;
  private readonly normB: Tensor;
  private readonly head: [Tensor2D, Tensor2D];
  private readonly masks = new Map<number, Tensor2D>();

  constructor(
    private readonly tf: Tf,
    readonly weights: BaseWeights,
  ) {
    const c = weights.config;
    const d = c.d_model;
    const ff = c.d_ff;
    const m = (data: Float32Array, rows: number, cols: number) => tf.keep(tf.tensor2d(data, [rows, cols]));
    const v = (data: Float32Array) => tf.keep(tf.tensor1d(data));
    this.embed = m(weights.embed, c.vocab_size, d);
    this.pos = m(weights.pos, c.context_length, d);
    this.layers = weights.layers.map((l) => ({
      ln1G: v(l.ln1G),
      ln1B: v(l.ln1B),
      ln2G: v(l.ln2G),
      ln2B: v(l.ln2B),
      proj: {
        q_proj: [m(l.q, d, d), m(l.qT, d, d)],
        k_proj: [m(l.k, d, d), m(l.kT, d, d)],
        v_proj: [m(l.v, d, d), m(l.vT, d, d)],
        o_proj: [m(l.o, d, d), m(l.oT, d, d)],
      },
      up: [m(l.up, d, ff), m(l.upT, ff, d)],
      down: [m(l.down, ff, d), m(l.downT, d, ff)],
    }));
    this.normG = v(weights.normG);
    this.normB = v(weights.normB);
    this.head = [m(weights.head, d, c.vocab_size), m(weights.headT, c.vocab_size, d)];
  }

  /** Frees the frozen tensors. */
  dispose(): void {
    const all: Tensor[] = [this.embed, this.pos, this.normG, this.normB, ...this.head, ...this.masks.values()];
    for (const l of this.layers) all.push(l.ln1G, l.ln1B, l.ln2G, l.ln2B, ...Object.values(l.proj).flat(), ...l.up, ...l.down);
    for (const t of all) t.dispose();
  }

  private mask(seq: number): Tensor2D {
    let mask = this.masks.get(seq);
    if (!mask) {
      const data = new Float32Array(seq * seq);
      for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) data[i * seq + j] = -1e9;
      mask = this.tf.keep(this.tf.tensor2d(data, [seq, seq]));
      this.masks.set(seq, mask);
    }
    return mask;
  }

  private layerNorm(x: Tensor2D, g: Tensor, b: Tensor): Tensor2D {
    const tf = this.tf;
    const xc = tf.sub(x, tf.mean(x, 1, true));
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(xc), 1, true), LN_EPS));
    return tf.add(tf.mul(tf.mul(xc, inv), g), b) as Tensor2D;
  }

  /** Final hidden states `[batch*seq, d]` (before the LM head) for LoRA tensors `params`. */
  private hidden(batch: EncodedBatch, lora: LoraParams, params: Tensor2D[]): Tensor2D {
    const tf = this.tf;
    const c = this.weights.config;
    const { rows, seq } = batch;
    const byLayer = new Map<string, [Tensor2D, Tensor2D]>();
    lora.pairs.forEach((p: LoraPair, i) => byLayer.set(`${p.layer}.${p.module}`, [params[2 * i]!, params[2 * i + 1]!]));
    const ids = tf.tensor1d(batch.tokens, "int32");
    const posSlice = tf.slice(this.pos, [0, 0], [seq, c.d_model]);
    let x = tf.add(tf.gather(this.embed, ids), rows > 1 ? tf.tile(posSlice, [rows, 1]) : posSlice) as Tensor2D;
    const mask = this.mask(seq);
    this.layers.forEach((l, li) => {
      const h = this.layerNorm(x, l.ln1G, l.ln1B);
      const project = (module: TargetModule, input: Tensor2D) => {
        const [w, wT] = l.proj[module];
        const pair = byLayer.get(`${li}.${module}`);
        return pair ? loraLinear(tf, input, w, wT, pair[0], pair[1], lora.scale) : frozenLinear(tf, input, w, wT);
      };
      const att = causalAttention(tf, project("q_proj", h), project("k_proj", h), project("v_proj", h), rows, seq, c.n_heads, mask);
      x = tf.add(x, project("o_proj", att)) as Tensor2D;
      const h2 = this.layerNorm(x, l.ln2G, l.ln2B);
      const up = gelu(tf, frozenLinear(tf, h2, l.up[0], l.up[1])) as Tensor2D;
      x = tf.add(x, frozenLinear(tf, up, l.down[0], l.down[1])) as Tensor2D;
    });
    return this.layerNorm(x, this.normG, this.normB);
  }

  private paramTensors(lora: LoraParams): Tensor2D[] {
    const { d, r } = lora;
    return lora.pairs.flatMap((p) => [this.tf.tensor2d(p.at, [d, r]), this.tf.tensor2d(p.bt, [r, d])]);
  }

  /** Mean weighted cross-entropy of `batch` and its gradient w.r.t. every LoRA tensor. */
  lossAndGrads(batch: EncodedBatch, lora: LoraParams): LossAndGrads {
    const tf = this.tf;
    let result: LossAndGrads | undefined;
    tf.tidy(() => {
      const params = this.paramTensors(lora);
      // The wasm OneHot kernel ignores its dtype argument (float32 gets int bits), so cast.
      const onehot = tf.cast(tf.oneHot(tf.tensor1d(batch.targets, "int32"), this.weights.config.vocab_size), "float32") as Tensor2D;
      const weights = tf.tensor2d(batch.weights, [batch.weights.length, 1]);
      const f = (...p: Tensor[]) => {
        const h = this.hidden(batch, lora, p as Tensor2D[]);
        const logits = frozenLinear(tf, h, this.head[0], this.head[1]);
        return weightedCrossEntropy(tf, logits, onehot, weights) as Scalar;
      };
      const { value, grads } = tf.valueAndGrads(f)(params);
      const g = grads.map((t) => t.dataSync() as Float32Array);
      result = {
        loss: value.dataSync()[0]!,
        grads: lora.pairs.map((_, i) => [g[2 * i]!, g[2 * i + 1]!]),
      };
    });
    return result!;
  }

  /** Logits `[rows*seq, vocab]` of a batch (no gradient), for cross-checking other paths. */
  logits(batch: EncodedBatch, lora: LoraParams): Float32Array {
    const tf = this.tf;
    // Return the tensor from tidy, not its data: tidy walks a returned array element by element.
    const out = tf.tidy(() => tf.matMul(this.hidden(batch, lora, this.paramTensors(lora)), this.head[0]));
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  }
}
