import { describe, expect, it } from "vitest";
import { MODEL_CONFIGS, type ModelConfig } from "../../src/server/engine/models.js";
import { Rng } from "../../src/server/engine/rng.js";
import { JsLogitSums } from "../../src/server/engine/pick-token.js";
import { BOS, PAD } from "../../src/server/engine/tokenizer.js";
import { attendScratchBytes, decodeKernels, kvCacheBytes, logitScratchBytes } from "../../src/server/engine/wasm/decode-kernels.js";
import { expf, geluF32 } from "../../src/server/engine/wasm/expf.js";

/**
 * The decoder's wasm kernels against JavaScript forms of the same operations in the same order:
 * every result must be bit-identical to its form (float64 for LayerNorm and the sampler's sums,
 * float32 for attention and GELU, checked also against float64 arithmetic for accuracy).
 */

const f = Math.fround;

/** Causal attention of one row in float32, in the wasm kernel's order of operations. */
function attendF32Reference(q: Float32Array, K: Float32Array, V: Float32Array, len: number, c: ModelConfig): Float32Array {
  const d = c.d_model;
  const dh = d / c.n_heads;
  const chunks = dh / 4;
  const scale = f(1 / Math.sqrt(dh));
  const out = new Float32Array(d);
  const scores = new Float32Array(len);
  for (let ho = 0; ho < d; ho += dh) {
    const qh = Float32Array.from({ length: dh }, (_, i) => f(q[ho + i]! * scale));
    for (let t = 0; t < len; t++) {
      const acc = [new Float32Array(4), new Float32Array(4)];
      for (let j = 0; j < chunks; j++) {
        for (let l = 0; l < 4; l++) {
          const prod = f(K[t * d + ho + 4 * j + l]! * qh[4 * j + l]!);
          acc[j % 2]![l] = j >= 2 ? f(prod + acc[j % 2]![l]!) : prod;
        }
      }
      const v = chunks > 1 ? acc[0]!.map((a, l) => f(a + acc[1]![l]!)) : acc[0]!;
      scores[t] = f(f(v[0]! + v[2]!) + f(v[1]! + v[3]!));
    }
    const max = scores.reduce((m, x) => Math.max(m, x), -Infinity);
    const lanes = new Float32Array(4);
    for (let t = 0; t < len; t++) {
      scores[t] = expf(f(scores[t]! - max));
      lanes[t % 4] = f(lanes[t % 4]! + scores[t]!);
    }
    const sum = f(f(lanes[0]! + lanes[1]!) + f(lanes[2]! + lanes[3]!));
    for (let i = 0; i < dh; i++) {
      let a = 0;
      for (let t = 0; t < len; t++) a = f(a + f(scores[t]! * V[t * d + ho + i]!));
      out[ho + i] = f(a / sum);
    }
  }
  return out;
}

/** Causal attention of one row in float64 (the accuracy check for the float32 kernel). */
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
  it("expf lanes are bit-identical to its JavaScript form, within 2 float32 ulp of exp on [-87, 88], 0 below, exp(88) above", () => {
    const n = 1 << 16;
    const { memory, k } = setup(base, 8 * n);
    const x = new Float32Array(memory.buffer, 0, n);
    const rng = new Rng(4);
    const specials = [
      0,
      -0,
      1,
      -1,
      88,
      88.5,
      89,
      1e30,
      Infinity,
      -87,
      -87.0001,
      -100,
      -1e30,
      -Infinity,
      NaN,
      1e-30,
      -1e-30,
      Math.LN2,
      -Math.LN2,
      0.5 * Math.LN2,
      -0.5 * Math.LN2,
    ];
    for (let i = 0; i < n; i++) x[i] = i < specials.length ? specials[i]! : (rng.next() - 0.5) * [2, 20, 176, 1e-3][i % 4]!;
    k.expfArray(0, 4 * n, n);
    const got = new Float32Array(memory.buffer, 4 * n, n);
    let mismatched = 0;
    let worstUlp = 0;
    for (let i = 0; i < n; i++) {
      if (!Object.is(got[i], expf(x[i]!))) mismatched++;
      const xi = x[i]!;
      if (xi >= -87 && xi <= 88) {
        const want = Math.exp(xi);
        const ulp = 2 ** (Math.floor(Math.log2(want)) - 23);
        worstUlp = Math.max(worstUlp, Math.abs(got[i]! - want) / ulp);
      }
    }
    expect(mismatched).toBe(0);
    expect(worstUlp).toBeLessThanOrEqual(2);
    const at = (v: number) => got[specials.indexOf(v)];
    expect([at(-87.0001), at(-100), at(-1e30), at(-Infinity)]).toEqual([0, 0, 0, 0]);
    expect([at(89), at(1e30), at(Infinity)]).toEqual([at(88), at(88), at(88)]);
    expect(Number.isNaN(got[specials.findIndex(Number.isNaN)])).toBe(true);
    expect(at(0)).toBe(1);
  });

  it("gelu is bit-identical to its float32 JavaScript form, and within 1e-6 of float64 GELU", () => {
    const n = 1 << 14;
    const { memory, k } = setup(base, 4 * n);
    const x = new Float32Array(memory.buffer, 0, n);
    const rng = new Rng(2);
    for (let i = 0; i < n; i++) x[i] = rng.normal() * [0.1, 1, 4, 30][i % 4]!;
    const want = Float32Array.from(x, geluF32);
    const exact = Array.from(x, geluReference);
    k.gelu(0, n);
    expect(same(x, want)).toBe(true);
    const worst = Math.max(...Array.from(x, (y, i) => Math.abs(y - exact[i]!) / Math.max(1, Math.abs(exact[i]!))));
    expect(worst).toBeLessThan(1e-6);
  });

  for (const id of MODEL_CONFIGS.keys()) {
    it(`attention is bit-identical to its float32 JavaScript form and within 3e-5 of float64, prefill and decode rows alike (${id})`, () => {
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
      let worst = 0;
      for (let layer = 0; layer < c.n_layers; layer++) {
        const f32 = new Float32Array(memory.buffer);
        const i32 = new Int32Array(memory.buffer);
        const cache = (s: number, kv: 0 | 1) =>
          f32.subarray((s * cacheBytes) / 4 + (2 * layer + kv) * ctx * d, (s * cacheBytes) / 4 + (2 * layer + kv + 1) * ctx * d);
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
          const q = qkv.subarray(r * 3 * d, r * 3 * d + d);
          const got = f32.subarray(outAt / 4 + r * d, outAt / 4 + (r + 1) * d);
          expect(same(got, attendF32Reference(q, K[s]!, V[s]!, rowPos[r]! + 1, c)), `layer ${layer} row ${r}`).toBe(true);
          const exact = attendReference(q, K[s]!, V[s]!, rowPos[r]! + 1, c);
          worst = Math.max(worst, ...Array.from(got, (y, i) => Math.abs(y - exact[i]!)));
        }
      }
      // outputs are weighted means of values ~N(0, 1): float32 rounding leaves ~1e-6
      expect(worst).toBeLessThan(3e-5);
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
