import type { Scalar, Tensor, Tensor2D } from "@tensorflow/tfjs";
import type { BaseWeights } from "./base-weights.js";
import { causalAttention, frozenLinear, gelu, layerNorm, loraLinear, weightedCrossEntropy } from "./grad-ops.js";
import type { EncodedBatch } from "./encode-batch.js";
import type { LoraPair, LoraParams } from "./lora.js";
import { LAYER_NORM_EPS } from "./models.js";
import { type PolicyBatch, type PolicyLossFn, policyLoss, samplingMask } from "./rl-loss.js";
import type { Tf } from "./tf-loader.js";
import type { AttentionModule, LossSpec } from "./types.js";

/** Loss and gradient of one batch, gradients in the pairs' order as `[at, bt]`. */
export interface LossAndGrads {
  loss: number;
  grads: [Float32Array, Float32Array][];
  /** `[rows*seq]` the most likely next token at each position (argmax of the logits). */
  predicted?: Int32Array;
}

interface LayerTensors {
  proj: Record<AttentionModule, [Tensor2D, Tensor2D]>;
  up: [Tensor2D, Tensor2D];
  down: [Tensor2D, Tensor2D];
}

/** `embed[token] + pos[t]` for every position of a `[rows, seq]` batch. */
function embedRows(embed: Float32Array, pos: Float32Array, tokens: Int32Array, rows: number, seq: number, d: number): Float32Array {
  const x0 = new Float32Array(rows * seq * d);
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < seq; t++) {
      const o = (r * seq + t) * d;
      const eo = tokens[r * seq + t]! * d;
      const po = t * d;
      for (let i = 0; i < d; i++) x0[o + i] = embed[eo + i]! + pos[po + i]!;
    }
  }
  return x0;
}

/**
 * The training forward/backward pass on tfjs for one base model. Holds the frozen weights as
 * tensors (one copy per model per thread, shared by every run); LoRA parameters come in per call.
 */
export class TrainGraph {
  private readonly layers: LayerTensors[];
  private readonly head: [Tensor2D, Tensor2D];
  /** LayerNorm gains and biases as tensors, by their Float32Array. */
  private readonly norms = new Map<Float32Array, Tensor>();

  constructor(
    private readonly tf: Tf,
    readonly weights: BaseWeights,
  ) {
    const c = weights.config;
    const d = c.d_model;
    const ff = c.d_ff;
    const m = (data: Float32Array, rows: number, cols: number) => tf.keep(tf.tensor2d(data, [rows, cols]));
    this.layers = weights.layers.map((l) => ({
      proj: {
        q_proj: [m(l.q, d, d), m(l.qT, d, d)],
        k_proj: [m(l.k, d, d), m(l.kT, d, d)],
        v_proj: [m(l.v, d, d), m(l.vT, d, d)],
        o_proj: [m(l.o, d, d), m(l.oT, d, d)],
      },
      up: [m(l.up, d, ff), m(l.upT, ff, d)],
      down: [m(l.down, ff, d), m(l.downT, d, ff)],
    }));
    this.head = [m(weights.head, d, c.vocab_size), m(weights.headT, c.vocab_size, d)];
    for (const v of [weights.normG, weights.normB, ...weights.layers.flatMap((l) => [l.ln1G, l.ln1B, l.ln2G, l.ln2B])])
      this.norms.set(v, tf.keep(tf.tensor1d(v)));
  }

  /** Frees the frozen tensors. */
  dispose(): void {
    const all: Tensor[] = [...this.head, ...this.norms.values()];
    for (const l of this.layers) all.push(...Object.values(l.proj).flat(), ...l.up, ...l.down);
    for (const t of all) t.dispose();
  }

  private layerNorm(x: Tensor2D, g: Float32Array, b: Float32Array): Tensor2D {
    return layerNorm(this.tf, x, this.norms.get(g)!, this.norms.get(b)!, LAYER_NORM_EPS);
  }

  /** Final hidden states `[batch*seq, d]` (before the LM head) for LoRA tensors `params`. */
  private hidden(batch: Pick<EncodedBatch, "rows" | "seq" | "tokens">, lora: LoraParams, params: Tensor2D[]): Tensor2D {
    const tf = this.tf;
    const c = this.weights.config;
    const { rows, seq } = batch;
    const byLayer = new Map<string, [Tensor2D, Tensor2D]>();
    lora.pairs.forEach((p: LoraPair, i) => byLayer.set(`${p.layer}.${p.module}`, [params[2 * i]!, params[2 * i + 1]!]));
    // Token + position embeddings in JavaScript (no gradient flows there): the wasm Slice/Tile
    // kernels copy far more than they return. Same float32 sums as tf.add.
    const d = c.d_model;
    const x0 = embedRows(this.weights.embed, this.weights.pos, batch.tokens, rows, seq, d);
    let x = tf.tensor2d(x0, [rows * seq, d]);
    // Gradients are only needed for activations that depend on a LoRA parameter: before the
    // first adapted layer nothing does, and in it only the adapted projections' outputs do.
    const adapted = (li: number, module: AttentionModule) => byLayer.has(`${li}.${module}`);
    const firstLayer = Math.min(...lora.pairs.map((p) => p.layer));
    this.layers.forEach((l, li) => {
      const lw = this.weights.layers[li]!;
      const xDepends = li > firstLayer;
      const h = this.layerNorm(x, lw.ln1G, lw.ln1B);
      const project = (module: AttentionModule, input: Tensor2D, inputDepends: boolean) => {
        const [w, wT] = l.proj[module];
        const pair = byLayer.get(`${li}.${module}`);
        return pair ? loraLinear(tf, input, w, wT, pair[0], pair[1], lora.scale, inputDepends) : frozenLinear(tf, input, w, wT);
      };
      const needGrads = {
        q: xDepends || adapted(li, "q_proj"),
        k: xDepends || adapted(li, "k_proj"),
        v: xDepends || adapted(li, "v_proj"),
      };
      const att = causalAttention(
        tf,
        project("q_proj", h, xDepends),
        project("k_proj", h, xDepends),
        project("v_proj", h, xDepends),
        rows,
        seq,
        c.n_heads,
        needGrads,
      );
      const attDepends = xDepends || needGrads.q || needGrads.k || needGrads.v;
      x = tf.add(x, project("o_proj", att, attDepends)) as Tensor2D;
      const h2 = this.layerNorm(x, lw.ln2G, lw.ln2B);
      const up = gelu(tf, frozenLinear(tf, h2, l.up[0], l.up[1])) as Tensor2D;
      x = tf.add(x, frozenLinear(tf, up, l.down[0], l.down[1])) as Tensor2D;
    });
    return this.layerNorm(x, this.weights.normG, this.weights.normB);
  }

  private paramTensors(lora: LoraParams): Tensor2D[] {
    const { r } = lora;
    return lora.pairs.flatMap((p) => [this.tf.tensor2d(p.at, [p.inDim, r]), this.tf.tensor2d(p.bt, [r, p.outDim])]);
  }

  /** Mean weighted cross-entropy of `batch` and its gradient w.r.t. every LoRA tensor. */
  lossAndGrads(batch: EncodedBatch, lora: LoraParams): LossAndGrads {
    return this.valueAndGrads(batch, lora, (onehot) => {
      const weights = this.tf.tensor2d(batch.weights, [batch.weights.length, 1]);
      return (logits) => weightedCrossEntropy(this.tf, logits, onehot, weights) as Scalar;
    });
  }

  /** An RL loss (`importance_sampling` or `ppo`, see `policyLoss`) of `batch` and its gradient. */
  policyLossAndGrads(batch: PolicyBatch, lora: LoraParams, loss: LossSpec & { loss_fn: PolicyLossFn }): LossAndGrads {
    const mask = samplingMask(this.tf, this.weights.config.vocab_size);
    try {
      return this.valueAndGrads(batch, lora, (onehot) => policyLoss(this.tf, onehot, mask, batch, loss));
    } finally {
      mask.dispose();
    }
  }

  /** `lossFor(onehot)` makes its constant tensors (outside the gradient scope) and returns the loss of the logits. */
  private valueAndGrads(
    batch: Pick<EncodedBatch, "rows" | "seq" | "tokens" | "targets">,
    lora: LoraParams,
    lossFor: (onehot: Tensor2D) => (logits: Tensor2D) => Scalar,
  ): LossAndGrads {
    const tf = this.tf;
    let result: LossAndGrads | undefined;
    tf.tidy(() => {
      const params = this.paramTensors(lora);
      // The wasm OneHot kernel ignores its dtype argument (float32 gets int bits), so cast.
      const onehot = tf.cast(tf.oneHot(tf.tensor1d(batch.targets, "int32"), this.weights.config.vocab_size), "float32") as Tensor2D;
      const lossOf = lossFor(onehot);
      let argmax: Tensor | undefined;
      const f = (...p: Tensor[]) => {
        const h = this.hidden(batch, lora, p as Tensor2D[]);
        const logits = frozenLinear(tf, h, this.head[0], this.head[1]);
        // Off the path to the loss, so the gradient ignores it; kept past the tape's tidy.
        argmax = tf.keep(tf.argMax(logits, 1));
        return lossOf(logits);
      };
      const { value, grads } = tf.valueAndGrads(f)(params);
      const g = grads.map((t) => t.dataSync() as Float32Array);
      const predicted = Int32Array.from(argmax!.dataSync());
      argmax!.dispose();
      result = {
        loss: value.dataSync()[0]!,
        grads: lora.pairs.map((_, i) => [g[2 * i]!, g[2 * i + 1]!]),
        predicted,
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
