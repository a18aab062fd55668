import type { BaseWeights } from "./base-weights.js";
import type { LoraParams } from "./lora.js";
import type { ModelConfig } from "./models.js";
import type { TargetModule } from "./types.js";

/**
 * Inference on plain Float32Arrays with a KV cache. At one token per sequence per step, tfjs's
 * per-op dispatch costs more than the arithmetic; these loops also make every sequence's
 * result depend only on its own tokens (each output accumulates in the same order whatever the
 * batch), which is what makes seeded sampling independent of the rest of the batch.
 */

/** Projections with LoRA merged in (`w + scale * at @ bt`), kept `[out, in]` like the other weights used here. */
export interface DecodeWeights {
  config: ModelConfig;
  base: BaseWeights;
  layers: { qT: Float32Array; kT: Float32Array; vT: Float32Array; oT: Float32Array }[];
}

/** Merges LoRA into the base projections (a fresh copy; the base is untouched). */
export function mergeLora(base: BaseWeights, lora: LoraParams | undefined): DecodeWeights {
  const d = base.config.d_model;
  const layers = base.layers.map((l) => ({ qT: l.qT, kT: l.kT, vT: l.vT, oT: l.oT }));
  for (const pair of lora?.pairs ?? []) {
    const key = ({ q_proj: "qT", k_proj: "kT", v_proj: "vT", o_proj: "oT" } as const satisfies Record<TargetModule, string>)[pair.module];
    const layer = layers[pair.layer]!;
    const merged = Float32Array.from(layer[key]);
    const r = lora!.r;
    // merged[o][i] += scale * sum_k at[i][k] * bt[k][o]
    for (let o = 0; o < d; o++) {
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += pair.at[i * r + k]! * pair.bt[k * d + o]!;
        merged[o * d + i] = merged[o * d + i]! + lora!.scale * acc;
      }
    }
    layer[key] = merged;
  }
  return { config: base.config, base, layers };
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

/**
 * `out[rows, n] = x[rows, m] @ wT[n, m]ᵀ`: dot products against rows of the `[out, in]` weight,
 * accumulated in float64 in index order. Four rows share each weight load; a row's result is the
 * same whether it is computed alone or in a group.
 */
export function matmulT(x: Float32Array, rows: number, m: number, wT: Float32Array, n: number, out: Float32Array): void {
  for (let j = 0; j < n; j++) {
    const wo = j * m;
    let r = 0;
    for (; r + 4 <= rows; r += 4) {
      const x0 = r * m;
      const x1 = x0 + m;
      const x2 = x1 + m;
      const x3 = x2 + m;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let k = 0; k < m; k++) {
        const w = wT[wo + k]!;
        a0 += x[x0 + k]! * w;
        a1 += x[x1 + k]! * w;
        a2 += x[x2 + k]! * w;
        a3 += x[x3 + k]! * w;
      }
      out[r * n + j] = a0;
      out[(r + 1) * n + j] = a1;
      out[(r + 2) * n + j] = a2;
      out[(r + 3) * n + j] = a3;
    }
    for (; r < rows; r++) {
      const x0 = r * m;
      let a = 0;
      for (let k = 0; k < m; k++) a += x[x0 + k]! * wT[wo + k]!;
      out[r * n + j] = a;
    }
  }
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

/** Causal attention of one row (`q` at `qo`) over the first `len` cached positions, into `att`. */
function attendRow(q: Float32Array, att: Float32Array, qo0: number, K: Float32Array, V: Float32Array, len: number, heads: number, dh: number, d: number, scale: number, scores: Float32Array): void {
  for (let hd = 0; hd < heads; hd++) {
    const qo = qo0 + hd * dh;
    let max = -Infinity;
    for (let t = 0; t < len; t++) {
      let s = 0;
      const ko = t * d + hd * dh;
      for (let i = 0; i < dh; i++) s += q[qo + i]! * K[ko + i]!;
      s *= scale;
      scores[t] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let t = 0; t < len; t++) {
      const e = Math.exp(scores[t]! - max);
      scores[t] = e;
      sum += e;
    }
    for (let i = 0; i < dh; i++) {
      let acc = 0;
      for (let t = 0; t < len; t++) acc += (scores[t]! / sum) * V[t * d + hd * dh + i]!;
      att[qo + i] = acc;
    }
  }
}

/** tanh-approximated GELU in place (the same formula as the training graph). */
function geluInPlace(x: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!;
    x[i] = 0.5 * u * (1 + Math.tanh(GELU_C * (u + 0.044715 * u * u * u)));
  }
}

/**
 * Runs `tokens[s]` (new tokens) through the model for each sequence `s`, appending to its KV
 * cache, and returns the final hidden state (after the last LayerNorm) of every new row.
 * @returns `[totalRows, d]`, rows in order of sequences then positions.
 */
export function forwardRows(w: DecodeWeights, caches: KvCache[], tokens: number[][]): Float32Array {
  const c = w.config;
  const d = c.d_model;
  const ff = c.d_ff;
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
  const q = new Float32Array(rows * d);
  const kv = new Float32Array(rows * d);
  const att = new Float32Array(rows * d);
  const proj = new Float32Array(rows * d);
  const up = new Float32Array(rows * ff);
  const scores = new Float32Array(c.context_length);
  w.layers.forEach((lw, li) => {
    const base = w.base.layers[li]!;
    layerNorm(x, rows, d, base.ln1G, base.ln1B, h);
    matmulT(h, rows, d, lw.qT, d, q);
    matmulT(h, rows, d, lw.kT, d, kv);
    for (let r = 0; r < rows; r++) caches[rowSeq[r]!]!.k[li]!.set(kv.subarray(r * d, (r + 1) * d), rowPos[r]! * d);
    matmulT(h, rows, d, lw.vT, d, kv);
    for (let r = 0; r < rows; r++) caches[rowSeq[r]!]!.v[li]!.set(kv.subarray(r * d, (r + 1) * d), rowPos[r]! * d);
    for (let r = 0; r < rows; r++) {
      const cache = caches[rowSeq[r]!]!;
      attendRow(q, att, r * d, cache.k[li]!, cache.v[li]!, rowPos[r]! + 1, heads, dh, d, scale, scores);
    }
    matmulT(att, rows, d, lw.oT, d, proj);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + proj[i]!;
    layerNorm(x, rows, d, base.ln2G, base.ln2B, h);
    matmulT(h, rows, d, base.upT, ff, up);
    geluInPlace(up);
    matmulT(up, rows, ff, base.downT, d, proj);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + proj[i]!;
  });
  tokens.forEach((toks, s) => (caches[s]!.length += toks.length));
  layerNorm(x, rows, d, w.base.normG, w.base.normB, h);
  return h;
}

/** Logits `[rows, vocab]` of hidden states `[rows, d]`. */
export function logitsOf(w: DecodeWeights, hidden: Float32Array, rows: number): Float32Array {
  const out = new Float32Array(rows * w.config.vocab_size);
  matmulT(hidden, rows, w.config.d_model, w.base.headT, w.config.vocab_size, out);
  return out;
}
