import type { Tensor, Tensor1D, Tensor2D, Tensor3D } from "@tensorflow/tfjs";
import type { Tf } from "../tf-loader.js";
import type { TargetModule } from "../types.js";
import type { HfCheckpoint } from "./hf-checkpoint.js";
import { readTensor } from "./weight-files.js";

/** LoRA tensors of one run or adapter, by `${layer}.${module}`: A as `[in, r]`, B as `[r, out]`. */
export interface HfLoraTensors {
  scale: number;
  pairs: Map<string, [Tensor2D, Tensor2D]>;
}

interface Linear {
  /** `[in, out]`: the checkpoint's `[out, in]` transposed, so the forward product is untransposed. */
  w: Tensor2D;
  b: Tensor1D | undefined;
}

interface Layer {
  inputNorm: Tensor1D;
  postNorm: Tensor1D;
  qNorm: Tensor1D | undefined;
  kNorm: Tensor1D | undefined;
  proj: Record<TargetModule, Linear>;
}

/** One sequence's keys and values (after RoPE) per layer, `[kvHeads, length, headDim]` each. */
export class HfKvCache {
  k: (Tensor3D | undefined)[];
  v: (Tensor3D | undefined)[];
  length = 0;

  constructor(layers: number) {
    this.k = new Array(layers).fill(undefined);
    this.v = new Array(layers).fill(undefined);
  }

  /** A copy that shares the data (tensors are immutable) and can be freed on its own. */
  fork(tf: Tf): HfKvCache {
    const c = new HfKvCache(this.k.length);
    c.k = this.k.map((t) => (t ? tf.keep(tf.clone(t)) : undefined));
    c.v = this.v.map((t) => (t ? tf.keep(tf.clone(t)) : undefined));
    c.length = this.length;
    return c;
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t?.dispose();
    this.k.fill(undefined);
    this.v.fill(undefined);
  }

  /** Float32 bytes this cache holds. */
  bytes(): number {
    let n = 0;
    for (const t of [...this.k, ...this.v]) n += t ? t.size * 4 : 0;
    return n;
  }
}

/**
 * The Llama family's decoder on tfjs, as transformers computes it in float32: RMSNorm, rotary
 * embeddings (`rotate_half`), grouped-query attention with a causal mask and a float32 softmax,
 * Qwen3's per-head q/k norms, the SiLU-gated MLP, and LoRA on any projection as PEFT adds it
 * (`W x + b + scale · B(A x)`). What differs between architectures is `DecoderSpec` data.
 *
 * Two ways through the same layers: `hidden` runs a padded batch at once (training; gradients
 * flow to the LoRA tensors by tfjs autodiff), `extend` appends tokens to per-sequence KV caches
 * (sampling, `forward`, embeddings), each sequence attending over its own cache.
 */
export class HfModel {
  private readonly embed: Tensor2D;
  /** The LM head `[hidden, vocab]`; undefined when tied to the embeddings (one copy, read transposed). */
  private readonly head: Tensor2D | undefined;
  private readonly finalNorm: Tensor1D;
  private readonly layers: Layer[];

  constructor(
    readonly tf: Tf,
    readonly checkpoint: HfCheckpoint,
  ) {
    const { spec, tensors } = checkpoint;
    const read = (name: string) => readTensor(tensors.get(name)!);
    const keep = <T extends Tensor>(t: T): T => tf.keep(t);
    const vec = (name: string) => keep(tf.tensor1d(read(name)));
    const embedData = read("model.embed_tokens.weight");
    this.embed = keep(tf.tensor2d(embedData, [spec.vocab, spec.hidden]));
    this.head = spec.tieEmbeddings ? undefined : tf.tidy(() => keep(tf.transpose(tf.tensor2d(read("lm_head.weight"), [spec.vocab, spec.hidden])) as Tensor2D));
    this.finalNorm = vec("model.norm.weight");
    this.layers = [];
    for (let i = 0; i < spec.layers; i++) {
      const p = `model.layers.${i}`;
      const linear = (module: TargetModule, hasBias: boolean): Linear => {
        const [out, inp] = tensors.get(`${p}.${moduleGroup(module)}.${module}.weight`)!.shape as [number, number];
        const w = tf.tidy(() => keep(tf.transpose(tf.tensor2d(read(`${p}.${moduleGroup(module)}.${module}.weight`), [out, inp])) as Tensor2D));
        return { w, b: hasBias ? vec(`${p}.${moduleGroup(module)}.${module}.bias`) : undefined };
      };
      this.layers.push({
        inputNorm: vec(`${p}.input_layernorm.weight`),
        postNorm: vec(`${p}.post_attention_layernorm.weight`),
        qNorm: spec.qkNorm ? vec(`${p}.self_attn.q_norm.weight`) : undefined,
        kNorm: spec.qkNorm ? vec(`${p}.self_attn.k_norm.weight`) : undefined,
        proj: {
          q_proj: linear("q_proj", spec.qkvBias),
          k_proj: linear("k_proj", spec.qkvBias),
          v_proj: linear("v_proj", spec.qkvBias),
          o_proj: linear("o_proj", spec.oBias),
          gate_proj: linear("gate_proj", spec.mlpBias),
          up_proj: linear("up_proj", spec.mlpBias),
          down_proj: linear("down_proj", spec.mlpBias),
        },
      });
    }
  }

  get spec() {
    return this.checkpoint.spec;
  }

  /** LoRA tensors for `pairs` (caller disposes them with `disposeLora`). */
  loraTensors(
    scale: number,
    pairs: { layer: number; module: TargetModule; at: Float32Array; bt: Float32Array; inDim: number; outDim: number; r: number }[],
  ): HfLoraTensors {
    const tf = this.tf;
    return {
      scale,
      pairs: new Map(pairs.map((p) => [`${p.layer}.${p.module}`, [tf.keep(tf.tensor2d(p.at, [p.inDim, p.r])), tf.keep(tf.tensor2d(p.bt, [p.r, p.outDim]))]])),
    };
  }

  /** Final-normed hidden states `[rows*seq, hidden]` of a right-padded batch (inside the caller's tidy). */
  hidden(tokens: Int32Array, rows: number, seq: number, lora: HfLoraTensors | undefined): Tensor2D {
    const tf = this.tf;
    const { heads, kvHeads, headDim } = this.spec;
    const positions = Array.from({ length: seq }, (_, t) => t);
    const [cos, sin] = this.rope(positions);
    const mask = causalMask(tf, seq, 0);
    let x = tf.gather(this.embed, tf.tensor1d(tokens, "int32")) as Tensor2D;
    this.layers.forEach((layer, li) => {
      const h = this.rmsNorm(x, layer.inputNorm);
      const heads4 = (t: Tensor2D, n: number, norm: Tensor1D | undefined) => {
        let r: Tensor = tf.reshape(t, [rows, seq, n, headDim]);
        if (norm) r = this.rmsNorm(r, norm);
        r = applyRope(tf, r, cos.reshape([1, seq, 1, headDim]), sin.reshape([1, seq, 1, headDim]));
        return tf.transpose(r, [0, 2, 1, 3]);
      };
      const q = heads4(this.linear(h, layer, li, "q_proj", lora), heads, layer.qNorm);
      const k = repeatKv(tf, heads4(this.linear(h, layer, li, "k_proj", lora), kvHeads, layer.kNorm), rows, kvHeads, heads / kvHeads, seq, headDim);
      const v = repeatKv(
        tf,
        tf.transpose(tf.reshape(this.linear(h, layer, li, "v_proj", lora), [rows, seq, kvHeads, headDim]), [0, 2, 1, 3]),
        rows,
        kvHeads,
        heads / kvHeads,
        seq,
        headDim,
      );
      const attn = attend(
        tf,
        tf.reshape(q, [rows * heads, seq, headDim]) as Tensor3D,
        tf.reshape(k, [rows * heads, seq, headDim]) as Tensor3D,
        tf.reshape(v, [rows * heads, seq, headDim]) as Tensor3D,
        mask,
        headDim,
      );
      const merged = tf.reshape(tf.transpose(tf.reshape(attn, [rows, heads, seq, headDim]), [0, 2, 1, 3]), [rows * seq, heads * headDim]) as Tensor2D;
      x = tf.add(x, this.linear(merged, layer, li, "o_proj", lora));
      x = tf.add(x, this.mlp(this.rmsNorm(x, layer.postNorm), layer, li, lora));
    });
    return this.rmsNorm(x, this.finalNorm) as Tensor2D;
  }

  /**
   * Appends each sequence's `tokens` to its cache (at positions `cache.length`...) and returns the
   * final-normed hidden state of every new row, sequences one after another `[sum rows, hidden]`.
   * The projections of all rows run as one matmul each; attention runs per sequence over its cache.
   * The caches' new tensors are kept (outside any tidy); the result is the caller's to dispose.
   */
  extend(seqs: readonly { cache: HfKvCache; tokens: readonly number[] }[], lora: HfLoraTensors | undefined): Tensor2D {
    const tf = this.tf;
    const { heads, kvHeads, headDim } = this.spec;
    const all = seqs.flatMap((s) => s.tokens);
    const ropes = seqs.map((s) => this.rope(s.tokens.map((_, i) => s.cache.length + i)));
    return tf.tidy(() => {
      let x = tf.gather(this.embed, tf.tensor1d(Int32Array.from(all), "int32")) as Tensor2D;
      this.layers.forEach((layer, li) => {
        const h = this.rmsNorm(x, layer.inputNorm);
        const q = this.linear(h, layer, li, "q_proj", lora);
        const k = this.linear(h, layer, li, "k_proj", lora);
        const v = this.linear(h, layer, li, "v_proj", lora);
        const outs: Tensor2D[] = [];
        let row = 0;
        seqs.forEach((s, si) => {
          const n = s.tokens.length;
          const [cos, sin] = ropes[si]!;
          const slice = (t: Tensor2D, width: number) => tf.slice(t, [row, 0], [n, width]);
          let qs: Tensor = tf.reshape(slice(q, heads * headDim), [n, heads, headDim]);
          let ks: Tensor = tf.reshape(slice(k, kvHeads * headDim), [n, kvHeads, headDim]);
          const vs = tf.transpose(tf.reshape(slice(v, kvHeads * headDim), [n, kvHeads, headDim]), [1, 0, 2]);
          if (layer.qNorm) qs = this.rmsNorm(qs, layer.qNorm);
          if (layer.kNorm) ks = this.rmsNorm(ks, layer.kNorm);
          const c3 = cos.reshape([n, 1, headDim]);
          const s3 = sin.reshape([n, 1, headDim]);
          qs = tf.transpose(applyRope(tf, qs, c3, s3), [1, 0, 2]);
          ks = tf.transpose(applyRope(tf, ks, c3, s3), [1, 0, 2]);
          const past = s.cache.length;
          const kAll = s.cache.k[li] ? tf.concat([s.cache.k[li]!, ks as Tensor3D], 1) : (ks as Tensor3D);
          const vAll = s.cache.v[li] ? tf.concat([s.cache.v[li]!, vs as Tensor3D], 1) : (vs as Tensor3D);
          s.cache.k[li]?.dispose();
          s.cache.v[li]?.dispose();
          s.cache.k[li] = tf.keep(kAll);
          s.cache.v[li] = tf.keep(vAll);
          const total = past + n;
          const rep = heads / kvHeads;
          const expand = (t: Tensor3D) =>
            rep === 1 ? t : (tf.reshape(tf.tile(tf.reshape(t, [kvHeads, 1, total * headDim]), [1, rep, 1]), [heads, total, headDim]) as Tensor3D);
          const attn = attend(tf, qs as Tensor3D, expand(kAll), expand(vAll), n === 1 ? undefined : causalMask(tf, n, past), headDim);
          outs.push(tf.reshape(tf.transpose(attn, [1, 0, 2]), [n, heads * headDim]) as Tensor2D);
          row += n;
        });
        const merged = outs.length === 1 ? outs[0]! : (tf.concat(outs, 0) as Tensor2D);
        x = tf.add(x, this.linear(merged, layer, li, "o_proj", lora));
        x = tf.add(x, this.mlp(this.rmsNorm(x, layer.postNorm), layer, li, lora));
      });
      for (const s of seqs) s.cache.length += s.tokens.length;
      return this.rmsNorm(x, this.finalNorm);
    });
  }

  /** Logits `[rows, vocab]` of final hidden states. */
  logits(hidden: Tensor2D): Tensor2D {
    return this.head ? this.tf.matMul(hidden, this.head) : this.tf.matMul(hidden, this.embed, false, true);
  }

  private linear(x: Tensor2D, layer: Layer, li: number, module: TargetModule, lora: HfLoraTensors | undefined): Tensor2D {
    const tf = this.tf;
    const { w, b } = layer.proj[module];
    let y: Tensor2D = tf.matMul(x, w);
    if (b) y = tf.add(y, b);
    const pair = lora?.pairs.get(`${li}.${module}`);
    if (pair) y = tf.add(y, tf.mul(tf.matMul(tf.matMul(x, pair[0]), pair[1]), lora!.scale));
    return y;
  }

  private mlp(x: Tensor2D, layer: Layer, li: number, lora: HfLoraTensors | undefined): Tensor2D {
    const tf = this.tf;
    const gate = this.linear(x, layer, li, "gate_proj", lora);
    const up = this.linear(x, layer, li, "up_proj", lora);
    return this.linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as Tensor2D, layer, li, "down_proj", lora);
  }

  /** transformers' RMSNorm over the last axis: `w · x / sqrt(mean(x²) + eps)`. */
  private rmsNorm<T extends Tensor>(x: T, w: Tensor1D): T {
    const tf = this.tf;
    const variance = tf.mean(tf.square(x), -1, true);
    return tf.mul(w, tf.mul(x, tf.rsqrt(tf.add(variance, this.spec.rmsEps)))) as T;
  }

  /** cos and sin `[positions, headDim]` as transformers computes them (float32 angles, `cat(freqs, freqs)`). */
  private rope(positions: readonly number[]): [Tensor2D, Tensor2D] {
    const { invFreq, headDim } = this.spec;
    const half = headDim / 2;
    const cos = new Float32Array(positions.length * headDim);
    const sin = new Float32Array(positions.length * headDim);
    positions.forEach((p, t) => {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(p * invFreq[i]!);
        cos[t * headDim + i] = cos[t * headDim + half + i] = Math.cos(angle);
        sin[t * headDim + i] = sin[t * headDim + half + i] = Math.sin(angle);
      }
    });
    return [this.tf.tensor2d(cos, [positions.length, headDim]), this.tf.tensor2d(sin, [positions.length, headDim])];
  }

  dispose(): void {
    for (const t of [this.embed, this.head, this.finalNorm]) t?.dispose();
    for (const l of this.layers) {
      for (const t of [l.inputNorm, l.postNorm, l.qNorm, l.kNorm]) t?.dispose();
      for (const p of Object.values(l.proj)) {
        p.w.dispose();
        p.b?.dispose();
      }
    }
  }
}

/** The checkpoint's module group of a projection: `self_attn` or `mlp`. */
function moduleGroup(module: TargetModule): "self_attn" | "mlp" {
  return module === "gate_proj" || module === "up_proj" || module === "down_proj" ? "mlp" : "self_attn";
}

/** `x · cos + rotate_half(x) · sin`, `rotate_half(x) = cat(-x2, x1)` over the last axis. */
function applyRope(tf: Tf, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const half = x.shape[x.shape.length - 1]! / 2;
  const [x1, x2] = tf.split(x, [half, half], -1) as [Tensor, Tensor];
  const rotated = tf.concat([tf.neg(x2), x1], -1);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}

/** transformers' `repeat_kv`: `[B, kv, T, d]` → `[B, kv·rep, T, d]`, each kv head repeated `rep` times in place. */
function repeatKv(tf: Tf, x: Tensor, rows: number, kv: number, rep: number, seq: number, d: number): Tensor {
  if (rep === 1) return x;
  // Rank 3 (tfjs has no Tile gradient past rank 4).
  return tf.reshape(tf.tile(tf.reshape(x, [rows * kv, 1, seq * d]), [1, rep, 1]), [rows, kv * rep, seq, d]);
}

/** `[n, past+n]`: 0 where query row i may see key j (j <= past + i), -1e9 elsewhere. */
function causalMask(tf: Tf, n: number, past: number): Tensor2D {
  const m = new Float32Array(n * (past + n));
  for (let i = 0; i < n; i++) for (let j = past + i + 1; j < past + n; j++) m[i * (past + n) + j] = -1e9;
  return tf.tensor2d(m, [n, past + n]);
}

/** Eager attention: `softmax(q kᵀ / sqrt(d) + mask) v`, batched over the first axis. */
function attend(tf: Tf, q: Tensor3D, k: Tensor3D, v: Tensor3D, mask: Tensor2D | undefined, d: number): Tensor3D {
  let scores: Tensor = tf.mul(tf.matMul(q, k, false, true), d ** -0.5);
  if (mask) scores = tf.add(scores, mask);
  return tf.matMul(tf.softmax(scores), v);
}
