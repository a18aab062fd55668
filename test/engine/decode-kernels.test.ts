import { describe, expect, it } from "vitest";
import { MODEL_CONFIGS, type ModelConfig } from "../../src/server/engine/models.js";
import { Rng } from "../../src/server/engine/rng.js";
import { JsLogitSums } from "../../src/server/engine/pick-token.js";
import { BOS, PAD } from "../../src/server/engine/tokenizer.js";
import { attendScratchBytes, decodeKernels, kvCacheBytes, logitScratchBytes } from "../../src/server/engine/wasm/decode-kernels.js";

/**
 * The decoder's wasm kernels against the float64 JavaScript they replaced (kept here as the
 * reference): every result must be bit-identical, or seeded samples and logprobs would change.
 */

/** Causal attention of one row, as the JavaScript decoder computed it. */
function attendReference(q: Float32Array, K: Float32Array, V: Float32Array, len: number, c: ModelConfig): Float32Array {
  const d = c.d_model;
  const dh = d / c.n_heads;
  const scale = 1 / Math.sqrt(dh);
  const out = new Float32Array(d);
  const scores = new Float64Array(len);
  const qh = new Float64Array(dh);
  for (let ho = 0; ho < d; ho += dh) {
    for (let i = 0; i < dh; i++) qh[i] = q[ho + i]! * scale;
    let max = -Infinity;
    for (let t = 0, ko = ho; t < len; t++, ko += d) {
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
    for (let i = 0; i < dh; i++) {
      let a = 0;
      for (let t = 0; t < len; t++) a += scores[t]! * V[t * d + ho + i]!;
      out[ho + i] = a / sum;
    }
  }
  return out;
}

const GELU_C = Math.sqrt(2 / Math.PI);

function geluReference(u: number): number {
  const y = GELU_C * (u + 0.044715 * u * u * u);
  return u - u / (Math.exp(2 * y) + 1);
}

/** LayerNorm of one row, as the JavaScript decoder computed it. */
function layerNormReference(x: Float32Array, g: Float32Array, b: Float32Array): Float32Array {
  const d = x.length;
  let mean = 0;
  for (let i = 0; i < d; i++) mean += x[i]!;
  mean /= d;
  let v = 0;
  for (let i = 0; i < d; i++) v += (x[i]! - mean) ** 2;
  const inv = 1 / Math.sqrt(v / d + 1e-5);
  return Float32Array.from(x, (xi, i) => (xi - mean) * inv * g[i]! + b[i]!);
}

function setup(c: ModelConfig, bytes: number) {
  const memory = new WebAssembly.Memory({ initial: Math.ceil(bytes / 65536) + 1 });
  return { memory, k: decodeKernels(memory, c) };
}

const base = MODEL_CONFIGS.get("signal-byte-base")!;
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).every((x, i) => Object.is(x, b[i]));

describe("the decoder's wasm kernels", () => {
  it("exp is bit-identical to Math.exp, at fdlibm's branch thresholds, specials and random arguments", () => {
    const n = 1 << 17;
    const { memory, k } = setup(base, 16 * n);
    const x = new Float64Array(memory.buffer, 0, n);
    const bits = new BigUint64Array(memory.buffer, 0, n);
    const rng = new Rng(1);
    const specials = [0, -0, 1, -1, 2, 0.5, Math.LN2 / 2, -Math.LN2 / 2, 1.5 * Math.LN2, 1e-9, -1e-9, 2 ** -28, -(2 ** -29), 703.9, 704, -704, 709.7, 709.8, -745, -746, -708, Infinity, -Infinity, NaN, 5e-324];
    // high words where fdlibm's exp changes branch, each side, random low words, both signs
    const edges = [0x3fd62e42, 0x3fd62e43, 0x3ff0a2b1, 0x3ff0a2b2, 0x3e2fffff, 0x3e300000, 0x40862e41, 0x40862e42, 0x4085ffff, 0x40860000];
    for (let i = 0; i < n; i++) {
      if (i < specials.length) x[i] = specials[i]!;
      else if (i < 16384) bits[i] = (BigInt(edges[i % edges.length]!) << 32n) | BigInt(Math.floor(rng.next() * 2 ** 32)) | (i & 1 ? 1n << 63n : 0n);
      else x[i] = (rng.next() - 0.5) * [2, 40, 1500, 1e-6][i % 4]!;
    }
    k.expArray(0, 8 * n, n);
    const got = new Float64Array(memory.buffer, 8 * n, n);
    let bad = 0;
    for (let i = 0; i < n; i++) if (!Object.is(got[i], Math.exp(x[i]!))) bad++;
    expect(bad).toBe(0);
  });

  it("gelu is bit-identical to its float64 JavaScript form", () => {
    const n = 1 << 14;
    const { memory, k } = setup(base, 4 * n);
    const x = new Float32Array(memory.buffer, 0, n);
    const rng = new Rng(2);
    for (let i = 0; i < n; i++) x[i] = rng.normal() * [0.1, 1, 4, 30][i % 4]!;
    const want = Float32Array.from(x, geluReference);
    k.gelu(0, n);
    expect(same(x, want)).toBe(true);
  });

  for (const id of MODEL_CONFIGS.keys()) {
    it(`attention is bit-identical to its float64 JavaScript form, prefill and decode rows alike (${id})`, () => {
      const c = MODEL_CONFIGS.get(id)!;
      const d = c.d_model;
      const ctx = c.context_length;
      const seqs = 3;
      const rows = 40;
      const cacheBytes = kvCacheBytes(c);
      const qkvAt = seqs * cacheBytes;
      const outAt = qkvAt + rows * 3 * d * 4;
      const tableAt = outAt + rows * d * 4;
      const scratchAt = tableAt + rows * 8;
      const { memory, k } = setup(c, scratchAt + attendScratchBytes(c));
      const rng = new Rng(3);
      // sequence s already holds `filled[s]` positions; the rows continue them (sequence 0 by 30 rows)
      const filled = [0, 7, ctx - 5];
      const rowSeq = Array.from({ length: rows }, (_, r) => (r < 30 ? 0 : r < 35 ? 1 : 2));
      const lengths = [...filled];
      const rowPos = rowSeq.map((s) => lengths[s]!++);
      for (let layer = 0; layer < c.n_layers; layer++) {
        const f32 = new Float32Array(memory.buffer);
        const i32 = new Int32Array(memory.buffer);
        const cache = (s: number, kv: 0 | 1) => f32.subarray((s * cacheBytes) / 4 + (2 * layer + kv) * ctx * d, (s * cacheBytes) / 4 + (2 * layer + kv + 1) * ctx * d);
        for (let s = 0; s < seqs; s++) for (const kv of [0, 1] as const) cache(s, kv).set(Float32Array.from({ length: filled[s]! * d }, () => rng.normal()));
        const qkv = f32.subarray(qkvAt / 4, qkvAt / 4 + rows * 3 * d);
        qkv.set(Float32Array.from(qkv, () => rng.normal() * 3));
        rowSeq.forEach((s, r) => {
          i32[tableAt / 4 + 2 * r] = s * cacheBytes;
          i32[tableAt / 4 + 2 * r + 1] = rowPos[r]!;
        });
        const K = [0, 1, 2].map((s) => Float32Array.from(cache(s, 0)));
        const V = [0, 1, 2].map((s) => Float32Array.from(cache(s, 1)));
        rowSeq.forEach((s, r) => {
          K[s]!.set(qkv.subarray(r * 3 * d + d, r * 3 * d + 2 * d), rowPos[r]! * d);
          V[s]!.set(qkv.subarray(r * 3 * d + 2 * d, r * 3 * d + 3 * d), rowPos[r]! * d);
        });
        k.attend(rows, tableAt, qkvAt, outAt, layer, scratchAt);
        for (let s = 0; s < seqs; s++) {
          expect(same(cache(s, 0).subarray(0, lengths[s]! * d), K[s]!.subarray(0, lengths[s]! * d)), `k cache ${s}`).toBe(true);
          expect(same(cache(s, 1).subarray(0, lengths[s]! * d), V[s]!.subarray(0, lengths[s]! * d)), `v cache ${s}`).toBe(true);
        }
        for (let r = 0; r < rows; r++) {
          const s = rowSeq[r]!;
          const want = attendReference(qkv.subarray(r * 3 * d, r * 3 * d + d), K[s]!, V[s]!, rowPos[r]! + 1, c);
          expect(same(f32.subarray(outAt / 4 + r * d, outAt / 4 + (r + 1) * d), want), `layer ${layer} row ${r}`).toBe(true);
        }
      }
    });
  }

  it("the sampler's sums over logits (normalizer, tempered probabilities) are bit-identical to the JavaScript reference", () => {
    const V = base.vocab_size;
    const rows = 64;
    const outAt = rows * V * 4 + 64;
    const { memory, k } = setup(base, outAt + logitScratchBytes(V));
    const logits = new Float32Array(memory.buffer, 0, rows * V);
    const rng = new Rng(4);
    for (let r = 0; r < rows; r++) {
      const row = logits.subarray(r * V, (r + 1) * V);
      const spread = [0.5, 3, 30, 900][r % 4]!;
      for (let i = 0; i < V; i++) row[i] = rng.normal() * spread;
      if (r % 5 === 1) row[BOS] = row[PAD] = 1e4; // never the max: they cannot be sampled
      if (r % 5 === 2) row[40] = row[7] = row[200] = 50; // a tie: the lowest id is the argmax
    }
    const js = new JsLogitSums();
    const f64 = new Float64Array(memory.buffer);
    for (let r = 0; r < rows; r++) {
      const row = logits.subarray(r * V, (r + 1) * V);
      const want = js.normalizer(row);
      k.normalizer(r * V * 4, V, outAt);
      expect(Object.is(f64[outAt / 8], want.max), `max, row ${r}`).toBe(true);
      expect(Object.is(want.max + Math.log(f64[outAt / 8 + 1]!), want.logZ), `logZ, row ${r}`).toBe(true);
      expect(new Int32Array(memory.buffer)[outAt / 4 + 4]).toBe(want.argmax);
      for (const temperature of [1, 0.7, 1.3, 0.05]) {
        const total = js.tempered(row, want.max, temperature);
        expect(Object.is(k.tempered(r * V * 4, V, want.max, temperature, outAt), total), `total, row ${r}, T ${temperature}`).toBe(true);
        expect(same(new Float64Array(memory.buffer, outAt, V), js.probs.subarray(0, V)), `probs, row ${r}, T ${temperature}`).toBe(true);
      }
    }
  });

  for (const id of MODEL_CONFIGS.keys()) {
    it(`LayerNorm, and the residual sum before it, are bit-identical to their JavaScript form (${id})`, () => {
      const d = MODEL_CONFIGS.get(id)!.d_model;
      const rows = 24;
      const n = rows * d;
      const { memory, k } = setup(MODEL_CONFIGS.get(id)!, 4 * (4 * n + 2 * d));
      const f32 = new Float32Array(memory.buffer);
      const rng = new Rng(5);
      const [X, S, G, B] = [0, n, 2 * n, 2 * n + d];
      const OUT = 2 * n + 2 * d;
      for (let i = 0; i < 2 * n; i++) f32[i] = rng.normal() * [1, 50, 0.01][i % 3]! + (i % 7);
      for (let i = 0; i < d; i++) {
        f32[G + i] = 1 + rng.normal() * 0.3;
        f32[B + i] = rng.normal() * 0.1;
      }
      const g = f32.slice(G, G + d);
      const b = f32.slice(B, B + d);
      const x = f32.slice(X, X + n);
      const src = f32.slice(S, S + n);
      k.layerNorm(4 * X, rows, 4 * G, 4 * B, 4 * OUT);
      for (let r = 0; r < rows; r++) {
        expect(same(f32.subarray(OUT + r * d, OUT + (r + 1) * d), layerNormReference(x.subarray(r * d, (r + 1) * d), g, b)), `row ${r}`).toBe(true);
      }
      // in place over its source, as the decoder calls it
      const sum = Float32Array.from(x, (xi, i) => xi + src[i]!);
      k.addNorm(4 * X, 4 * S, rows, 4 * G, 4 * B, 4 * S);
      expect(same(f32.subarray(X, X + n), sum)).toBe(true);
      for (let r = 0; r < rows; r++) {
        expect(same(f32.subarray(S + r * d, S + (r + 1) * d), layerNormReference(sum.subarray(r * d, (r + 1) * d), g, b)), `row ${r} after the sum`).toBe(true);
      }
    });
  }
});
