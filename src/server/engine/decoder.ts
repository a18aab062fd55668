import type { Tensor2D } from "@tensorflow/tfjs";
import type { BaseWeights } from "./base-weights.js";
import type { LoraParams } from "./lora.js";
import type { ModelConfig } from "./models.js";
import type { Tf } from "./tf-loader.js";
import type { TargetModule } from "./types.js";

/**
 * Inference with a KV cache. The projections (q/k/v, o, MLP, LM head) of every row being decoded
 * run as one untransposed 2-D matmul each on the tfjs wasm backend (XNNPACK), which is ~10x faster
 * than JavaScript loops; LayerNorm, attention over the cache, GELU and residuals stay in
 * JavaScript, one row at a time.
 *
 * Batch independence: XNNPACK computes each output row with the same micro-kernel and the same
 * summation order whatever the number of rows and wherever the row sits (checked bit-for-bit by
 * test/engine/decoder.test.ts), and everything else is per row, so a sequence's result depends
 * only on its own tokens. That is what makes seeded sampling independent of the rest of the batch.
 */

/** Frozen decode tensors of one base model, `[in, out]` layout, shared by all its runs and adapters. */
export class DecodeBase {
  readonly up: Tensor2D[];
  readonly down: Tensor2D[];
  readonly head: Tensor2D;

  constructor(
    readonly tf: Tf,
    readonly base: BaseWeights,
  ) {
    const c = base.config;
    if ((c.d_model / c.n_heads) % 4 !== 0) throw new Error(`decoder needs a head size that is a multiple of 4, got ${c.d_model / c.n_heads}`);
    const m = (data: Float32Array, rows: number, cols: number) => tf.keep(tf.tensor2d(data, [rows, cols]));
    this.up = base.layers.map((l) => m(l.up, c.d_model, c.d_ff));
    this.down = base.layers.map((l) => m(l.down, c.d_ff, c.d_model));
    this.head = m(base.head, c.d_model, c.vocab_size);
  }

  dispose(): void {
    for (const t of [...this.up, ...this.down, this.head]) t.dispose();
  }
}

/** Decode weights of one run or adapter: attention projections with LoRA merged in, plus the shared base. */
export class DecodeWeights {
  constructor(
    readonly shared: DecodeBase,
    /** Per layer: `qkv` `[d, 3d]` (q, k, v side by side) and `o` `[d, d]`, LoRA merged. */
    readonly layers: { qkv: Tensor2D; o: Tensor2D }[],
  ) {}

  get config(): ModelConfig {
    return this.shared.base.config;
  }

  get base(): BaseWeights {
    return this.shared.base;
  }

  get tf(): Tf {
    return this.shared.tf;
  }

  /** Frees this run's merged tensors (not the shared base). */
  dispose(): void {
    for (const l of this.layers) {
      l.qkv.dispose();
      l.o.dispose();
    }
  }
}

/** Merges LoRA into the base projections (`w + scale * at @ bt`, float64 sums) as fresh tensors. */
export function mergeLora(shared: DecodeBase, lora: LoraParams | undefined): DecodeWeights {
  const tf = shared.tf;
  const base = shared.base;
  const d = base.config.d_model;
  const layers = base.layers.map((l, li) => {
    const proj: Record<TargetModule, Float32Array> = { q_proj: l.q, k_proj: l.k, v_proj: l.v, o_proj: l.o };
    for (const pair of lora?.pairs ?? []) {
      if (pair.layer !== li) continue;
      const merged = Float32Array.from(proj[pair.module]);
      const r = lora!.r;
      // merged[i][o] += scale * sum_k at[i][k] * bt[k][o]   ([in, out] layout)
      for (let i = 0; i < d; i++) {
        for (let o = 0; o < d; o++) {
          let acc = 0;
          for (let k = 0; k < r; k++) acc += pair.at[i * r + k]! * pair.bt[k * d + o]!;
          merged[i * d + o] = merged[i * d + o]! + lora!.scale * acc;
        }
      }
      proj[pair.module] = merged;
    }
    const qkv = new Float32Array(d * 3 * d);
    for (let i = 0; i < d; i++) {
      qkv.set(proj.q_proj.subarray(i * d, (i + 1) * d), i * 3 * d);
      qkv.set(proj.k_proj.subarray(i * d, (i + 1) * d), i * 3 * d + d);
      qkv.set(proj.v_proj.subarray(i * d, (i + 1) * d), i * 3 * d + 2 * d);
    }
    return { qkv: tf.keep(tf.tensor2d(qkv, [d, 3 * d])), o: tf.keep(tf.tensor2d(proj.o_proj, [d, d])) };
  });
  return new DecodeWeights(shared, layers);
}

/** One sequence's KV cache. */
export class KvCache {
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  length = 0;

  constructor(config: ModelConfig) {
    const size = config.context_length * config.d_model;
    this.k = Array.from({ length: config.n_layers }, () => new Float32Array(size));
    this.v = Array.from({ length: config.n_layers }, () => new Float32Array(size));
  }

  /** An independent copy (n samples share one prompt prefill). */
  clone(config: ModelConfig): KvCache {
    const c = new KvCache(config);
    const used = this.length * config.d_model;
    this.k.forEach((k, i) => c.k[i]!.set(k.subarray(0, used)));
    this.v.forEach((v, i) => c.v[i]!.set(v.subarray(0, used)));
    c.length = this.length;
    return c;
  }
}

/** `x[rows, k] @ w[k, n]` on the wasm backend; returns a fresh `[rows, n]` array. */
export function project(tf: Tf, x: Float32Array, rows: number, w: Tensor2D): Float32Array {
  const k = w.shape[0];
  const xt = tf.tensor2d(x.length === rows * k ? x : x.subarray(0, rows * k), [rows, k]);
  const y = tf.matMul(xt, w);
  const out = y.dataSync() as Float32Array;
  xt.dispose();
  y.dispose();
  return out;
}

function layerNorm(x: Float32Array, rows: number, d: number, g: Float32Array, b: Float32Array, out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[o + i]!;
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[o + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + 1e-5);
    for (let i = 0; i < d; i++) out[o + i] = (x[o + i]! - mean) * inv * g[i]! + b[i]!;
  }
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * Causal attention of one row over the first `len` cached positions: `q` at `qo0` in `qkv`
 * (rows of `3d`), output at `ao` in `att`. Float64 sums in a fixed order (four interleaved
 * partial sums), so the result depends only on this row's query and cache.
 */
function attendRow(
  qkv: Float32Array,
  qo0: number,
  att: Float32Array,
  ao: number,
  K: Float32Array,
  V: Float32Array,
  len: number,
  heads: number,
  dh: number,
  d: number,
  scale: number,
  scores: Float64Array,
  qh: Float64Array,
): void {
  for (let hd = 0; hd < heads; hd++) {
    const ho = hd * dh;
    for (let i = 0; i < dh; i++) qh[i] = qkv[qo0 + ho + i]! * scale;
    let max = -Infinity;
    for (let t = 0; t < len; t++) {
      const ko = t * d + ho;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let i = 0; i < dh; i += 4) {
        s0 += qh[i]! * K[ko + i]!;
        s1 += qh[i + 1]! * K[ko + i + 1]!;
        s2 += qh[i + 2]! * K[ko + i + 2]!;
        s3 += qh[i + 3]! * K[ko + i + 3]!;
      }
      const s = s0 + s1 + (s2 + s3);
      scores[t] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let t = 0; t < len; t++) {
      const e = Math.exp(scores[t]! - max);
      scores[t] = e;
      sum += e;
    }
    for (let i = 0; i < dh; i += 4) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let t = 0, vo = ho + i; t < len; t++, vo += d) {
        const e = scores[t]!;
        a0 += e * V[vo]!;
        a1 += e * V[vo + 1]!;
        a2 += e * V[vo + 2]!;
        a3 += e * V[vo + 3]!;
      }
      const o = ao + ho + i;
      att[o] = a0 / sum;
      att[o + 1] = a1 / sum;
      att[o + 2] = a2 / sum;
      att[o + 3] = a3 / sum;
    }
  }
}

/**
 * tanh-approximated GELU in place (the training graph's formula), with
 * `0.5 u (1 + tanh y) = u - u / (exp(2y) + 1)`: one exp is cheaper than V8's tanh.
 */
function geluInPlace(x: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!;
    const y = GELU_C * (u + 0.044715 * u * u * u);
    x[i] = u - u / (Math.exp(2 * y) + 1);
  }
}

/**
 * Runs `tokens[s]` (new tokens) through the model for each sequence `s`, appending to its KV
 * cache, and returns the final hidden state (after the last LayerNorm) of every new row.
 * @returns `[totalRows, d]`, rows in order of sequences then positions.
 */
export function forwardRows(w: DecodeWeights, caches: KvCache[], tokens: number[][]): Float32Array {
  const tf = w.tf;
  const c = w.config;
  const d = c.d_model;
  const heads = c.n_heads;
  const dh = d / heads;
  const scale = 1 / Math.sqrt(dh);
  const rowSeq: number[] = [];
  const rowPos: number[] = [];
  tokens.forEach((toks, s) => toks.forEach((_, i) => (rowSeq.push(s), rowPos.push(caches[s]!.length + i))));
  const rows = rowSeq.length;
  const x = new Float32Array(rows * d);
  let r0 = 0;
  tokens.forEach((toks) =>
    toks.forEach((t) => {
      const pos = rowPos[r0]!;
      for (let i = 0; i < d; i++) x[r0 * d + i] = w.base.embed[t * d + i]! + w.base.pos[pos * d + i]!;
      r0++;
    }),
  );
  const h = new Float32Array(rows * d);
  const att = new Float32Array(rows * d);
  const scores = new Float64Array(c.context_length);
  const qh = new Float64Array(dh);
  for (let li = 0; li < w.layers.length; li++) {
    const lw = w.layers[li]!;
    const base = w.base.layers[li]!;
    layerNorm(x, rows, d, base.ln1G, base.ln1B, h);
    const qkv = project(tf, h, rows, lw.qkv);
    for (let r = 0; r < rows; r++) {
      const cache = caches[rowSeq[r]!]!;
      const o = r * 3 * d;
      cache.k[li]!.set(qkv.subarray(o + d, o + 2 * d), rowPos[r]! * d);
      cache.v[li]!.set(qkv.subarray(o + 2 * d, o + 3 * d), rowPos[r]! * d);
    }
    for (let r = 0; r < rows; r++) {
      const cache = caches[rowSeq[r]!]!;
      attendRow(qkv, r * 3 * d, att, r * d, cache.k[li]!, cache.v[li]!, rowPos[r]! + 1, heads, dh, d, scale, scores, qh);
    }
    const proj = project(tf, att, rows, lw.o);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + proj[i]!;
    layerNorm(x, rows, d, base.ln2G, base.ln2B, h);
    const up = project(tf, h, rows, w.shared.up[li]!);
    geluInPlace(up);
    const down = project(tf, up, rows, w.shared.down[li]!);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + down[i]!;
  }
  tokens.forEach((toks, s) => (caches[s]!.length += toks.length));
  layerNorm(x, rows, d, w.base.normG, w.base.normB, h);
  return h;
}

/** Logits `[rows, vocab]` of hidden states `[rows, d]`. */
export function logitsOf(w: DecodeWeights, hidden: Float32Array, rows: number): Float32Array {
  return project(w.tf, hidden, rows, w.shared.head);
}
