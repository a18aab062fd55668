import { LAYER_NORM_EPS, type ModelConfig } from "../models.js";
import { BOS, PAD } from "../tokenizer.js";
import { Body, F32, F64, type FunctionDef, I32, V128, assemble } from "./assembler.js";
import { overRows, setAddress } from "./emit.js";
import { HEAD_OUTPUT, HEAD_SCORES, HEAD_SOFTMAX, headOutput, headScores, headSoftmax } from "./attention-heads.js";
import { GELU_2C, GELU_A, emitExpF32 } from "./expf.js";
import {
  F32X4_ADD,
  F32X4_DEMOTE_ZERO,
  F32X4_DIV,
  F32X4_EQ,
  F32X4_EXTRACT,
  F32X4_MUL,
  F32X4_PMAX,
  F32X4_SPLAT,
  F32X4_SUB,
  F32_LOAD,
  F32_MAX,
  F64X2_ADD,
  F64X2_DIV,
  F64X2_MUL,
  F64X2_PROMOTE_LOW,
  F64X2_SPLAT,
  F64X2_SUB,
  F64_ADD,
  F64_DIV,
  F64_LOAD,
  F64_MUL,
  F64_PROMOTE_F32,
  F64_SQRT,
  F64_STORE,
  F64_SUB,
  HIGH_PAIR,
  I32X4_ADD,
  I32X4_BITMASK,
  I32X4_EQ,
  I32X4_GE_S,
  I32X4_SPLAT,
  I32_ADD,
  I32_CTZ,
  I32_LOAD,
  I32_MUL,
  I32_STORE,
  I8X16_SHUFFLE,
  LOW_PAIRS,
  MEMORY_COPY,
  V_ANDNOT,
  V_BITSELECT,
  V_LOAD,
  V_LOAD64_ZERO,
  V_OR,
  V_STORE,
  V_STORE64_LANE,
} from "./opcodes.js";

/**
 * The decoder's per-row arithmetic as WebAssembly, run on the tfjs wasm heap (the module imports
 * the backend's memory, so the kernels read the matmuls' outputs and write their inputs in
 * place). Attention over the KV cache and GELU run in float32, four lanes at a time; LayerNorm
 * and the sampler's sums over the logits run in float64 (two lanes), with float32 exps. Every
 * exp is the `expf` of `expf.ts`. Each kernel's order of operations is fixed and written out in
 * JavaScript in test/engine/decode-kernels.test.ts, which holds the kernels to those forms bit
 * for bit; every result depends only on its own row, which keeps seeded sampling independent of
 * the batch.
 */
export interface DecodeKernels {
  /**
   * Appends each row's k and v (from its `qkv` row of `3d` floats) to its sequence's cache, then
   * writes each row's causal attention output (`d` floats) at `out`. `table` holds, per row, the
   * cache's byte address and the row's position (two int32s); `scratch` is `attendScratchBytes` bytes.
   */
  attend(rows: number, table: number, qkv: number, out: number, layer: number, scratch: number): void;
  /** tanh-approximated GELU (`geluF32`) in place on `n` floats at `ptr` (`n` a multiple of 16). */
  gelu(ptr: number, n: number): void;
  /** `dst[i] = expf(src[i])` for `n` float32s (`n` a multiple of 4): for tests. */
  expfArray(src: number, dst: number, n: number): void;
  /** LayerNorm of `rows` rows of `d` floats at `x` (gain `g`, bias `b`) into `out`. */
  layerNorm(x: number, rows: number, g: number, b: number, out: number): void;
  /** `x += src` (float32, `rows × d`), then `layerNorm(x)` into `out` (which may be `src`). */
  addNorm(x: number, src: number, rows: number, g: number, b: number, out: number): void;
  /**
   * `logNormalizer` of the `vocab` logits at `ptr`: writes the largest logit (float64) at `out`,
   * the sum of `exp(logit - max)` (float64) at `out + 8` and the argmax (int32) at `out + 16`.
   */
  normalizer(ptr: number, vocab: number, out: number): void;
  /**
   * Writes `exp((logit - max) / temperature)` of every token a sample can produce (0 for BOS and
   * PAD) as float64s at `out`. @returns their sum in id order.
   */
  tempered(ptr: number, vocab: number, max: number, temperature: number, out: number): number;
}

/** Bytes of output `normalizer` and `tempered` need for `vocab` logits. */
export function logitScratchBytes(vocab: number): number {
  return (vocab + 8) * 8 + 24;
}

/** Bytes of scratch `attend` needs. */
export function attendScratchBytes(c: ModelConfig): number {
  return (c.context_length + 8) * 4;
}

/** Bytes of one sequence's KV cache: per layer, K then V, `context_length × d_model` floats each. */
export function kvCacheBytes(c: ModelConfig): number {
  return c.n_layers * 2 * c.context_length * c.d_model * 4;
}

// Opcodes (core, then 0xfd-prefixed SIMD).

/** `dst[i] = expf(src[i])` for `n` float32s (`n` a multiple of 4): for tests. */
function expfArray(): FunctionDef {
  const b = new Body([I32, I32, I32]);
  const [src, dst, n] = [0, 1, 2];
  const i = b.local(I32);
  const at = b.local(I32);
  const xs = [b.local(V128)];
  const ys = [b.local(V128)];
  b.for(
    i,
    () => b.i32(0),
    () => b.get(n),
    4,
    () => {
      setAddress(b, at, src, i, 4);
      b.get(at).simdMem(V_LOAD, 2).set(xs[0]!);
      emitExpF32(b, xs, ys);
      b.get(dst).get(i).i32(4).op(I32_MUL).op(I32_ADD).get(ys[0]!).simdMem(V_STORE, 2);
    },
  );
  return { name: "expfArray", params: [I32, I32, I32], results: [], body: b, export: true };
}

/** Sixteen floats per iteration (four exp chains in flight), in float32: `geluF32` per lane. */
function gelu(): FunctionDef {
  const b = new Body([I32, I32]);
  const [ptr, n] = [0, 1];
  const p = b.local(I32);
  const end = b.local(I32);
  const vec = () => [0, 1, 2, 3].map(() => b.local(V128));
  const [us, zs, es] = [vec(), vec(), vec()];
  setAddress(b, end, ptr, n, 4);
  b.for(
    p,
    () => b.get(ptr),
    () => b.get(end),
    64,
    () => {
      us.forEach((u, k) =>
        b
          .get(p)
          .simdMem(V_LOAD, 2, 16 * k)
          .set(u),
      );
      // z = (u + ((u * u) * u) * A) * 2c
      us.forEach((u, k) => {
        b.get(u).get(u).get(u).simd(F32X4_MUL).get(u).simd(F32X4_MUL).f32x4(GELU_A).simd(F32X4_MUL).simd(F32X4_ADD);
        b.f32x4(GELU_2C).simd(F32X4_MUL).set(zs[k]!);
      });
      emitExpF32(b, zs, es);
      // u - u / (exp(z) + 1)
      us.forEach((u, k) => {
        b.get(p)
          .get(u)
          .get(u)
          .get(es[k]!)
          .f32x4(1)
          .simd(F32X4_ADD)
          .simd(F32X4_DIV)
          .simd(F32X4_SUB)
          .simdMem(V_STORE, 2, 16 * k);
      });
    },
  );
  return { name: "gelu", params: [I32, I32], results: [], body: b, export: true };
}

/**
 * Writes the exp of the float64 argument `args` makes of every logit (rounded to float32, then
 * `expf`) as float64s at `out`, eight logits per iteration (up to 7 past `vocab`, into the
 * output's slack), then 0 at BOS and PAD. `args(xs, vs)` turns the logits in the v128 locals `vs`
 * into the arguments in the four locals `xs` (two float64 lanes each).
 */
function expLogits(b: Body, ptr: number, vocab: number, out: number, args: (xs: number[], vs: number[]) => void): void {
  const i = b.local(I32);
  const at = b.local(I32);
  const vs = [b.local(V128), b.local(V128)];
  const xs = [0, 1, 2, 3].map(() => b.local(V128));
  const fs = [b.local(V128), b.local(V128)];
  const gs = [b.local(V128), b.local(V128)];
  b.for(
    i,
    () => b.i32(0),
    () => b.get(vocab),
    8,
    () => {
      vs.forEach((v, h) =>
        b
          .get(ptr)
          .get(i)
          .i32(4)
          .op(I32_MUL)
          .op(I32_ADD)
          .simdMem(V_LOAD, 2, 16 * h)
          .set(v),
      );
      args(xs, vs);
      fs.forEach((f, h) =>
        b
          .get(xs[2 * h]!)
          .simd(F32X4_DEMOTE_ZERO)
          .get(xs[2 * h + 1]!)
          .simd(F32X4_DEMOTE_ZERO)
          .simd(I8X16_SHUFFLE, ...LOW_PAIRS)
          .set(f),
      );
      emitExpF32(b, fs, gs);
      setAddress(b, at, out, i, 8);
      for (let k = 0; k < 4; k++) {
        const g = gs[k >> 1]!;
        b.get(at).get(g);
        if (k & 1) b.get(g).simd(I8X16_SHUFFLE, ...HIGH_PAIR);
        b.simd(F64X2_PROMOTE_LOW).simdMem(V_STORE, 3, 16 * k);
      }
    },
  );
  for (const id of [BOS, PAD])
    b.get(out)
      .f64(0)
      .mem(F64_STORE, 3, 8 * id);
}

/** Pushes the float64 sum of the `vocab` float64s at `out`, in index order. */
function sumInOrder(b: Body, out: number, vocab: number): void {
  const i = b.local(I32);
  const z = b.local(F64);
  b.f64(0).set(z);
  b.for(
    i,
    () => b.i32(0),
    () => b.get(vocab),
    1,
    () => b.get(z).get(out).get(i).i32(8).op(I32_MUL).op(I32_ADD).mem(F64_LOAD, 3).op(F64_ADD).set(z),
  );
  b.get(z);
}

/** Promotes the float32 lanes of `vs` to the float64 vectors `xs`, minus `max`, divided by `div` when given. */
function logitArgs(b: Body, max: number, div?: number): (xs: number[], vs: number[]) => void {
  return (xs, vs) => {
    xs.forEach((x, k) => {
      const v = vs[k >> 1]!;
      if (k & 1)
        b.get(v)
          .get(v)
          .simd(I8X16_SHUFFLE, ...HIGH_PAIR);
      else b.get(v);
      b.simd(F64X2_PROMOTE_LOW).get(max).simd(F64X2_SPLAT).simd(F64X2_SUB);
      if (div !== undefined) b.get(div).simd(F64X2_SPLAT).simd(F64X2_DIV);
      b.set(x);
    });
  };
}

function normalizer(): FunctionDef {
  const b = new Body([I32, I32, I32]);
  const [ptr, vocab, out] = [0, 1, 2];
  const i = b.local(I32);
  const argmax = b.local(I32);
  const bits = b.local(I32);
  const max = b.local(F64);
  const max32 = b.local(F32);
  const z = b.local(F64);
  const ex = b.local(I32);
  const [l, mv, skip] = [b.local(V128), b.local(V128), b.local(V128)];
  /** Sets skip to the lanes of group i that are BOS, PAD or past vocab, l to the group's logits. */
  const group = () => {
    b.get(i).simd(I32X4_SPLAT).i32x4(0, 1, 2, 3).simd(I32X4_ADD).set(skip);
    b.get(skip).i32x4(BOS).simd(I32X4_EQ).get(skip).i32x4(PAD).simd(I32X4_EQ).simd(V_OR);
    b.get(skip).get(vocab).simd(I32X4_SPLAT).simd(I32X4_GE_S).simd(V_OR).set(skip);
    b.get(ptr).get(i).i32(4).op(I32_MUL).op(I32_ADD).simdMem(V_LOAD, 2).set(l);
  };
  // the largest sampleable logit (pmax keeps the first of equal lanes and ignores NaN, as `>` does)
  b.f32x4(-Infinity).set(mv);
  b.for(
    i,
    () => b.i32(0),
    () => b.get(vocab),
    4,
    () => {
      group();
      b.get(mv).f32x4(-Infinity).get(l).get(skip).simd(V_BITSELECT).simd(F32X4_PMAX).set(mv);
    },
  );
  b.get(mv).simd(F32X4_EXTRACT, 0).set(max32);
  for (let k = 1; k < 4; k++) b.get(max32).get(mv).simd(F32X4_EXTRACT, k).op(F32_MAX).set(max32);
  b.get(max32).op(F64_PROMOTE_F32).set(max);
  // argmax: the lowest sampleable id holding it (0 when none does, as in the reference)
  b.i32(0).set(argmax);
  b.for(
    i,
    () => b.i32(0),
    () => b.get(vocab),
    4,
    () => {
      group();
      b.get(l).get(max32).simd(F32X4_SPLAT).simd(F32X4_EQ).get(skip).simd(V_ANDNOT).simd(I32X4_BITMASK).tee(bits);
      // br 2 leaves the loop (if, loop, the loop's block)
      b.if(() => b.get(i).get(bits).op(I32_CTZ).op(I32_ADD).set(argmax).br(2));
    },
  );
  // the exps after the three results, then their sum
  b.get(out).i32(24).op(I32_ADD).set(ex);
  expLogits(b, ptr, vocab, ex, logitArgs(b, max));
  sumInOrder(b, ex, vocab);
  b.set(z);
  b.get(out).get(max).mem(F64_STORE, 3).get(out).get(z).mem(F64_STORE, 3, 8).get(out).get(argmax).mem(I32_STORE, 2, 16);
  return { name: "normalizer", params: [I32, I32, I32], results: [], body: b, export: true };
}

function tempered(): FunctionDef {
  const b = new Body([I32, I32, F64, F64, I32]);
  const [ptr, vocab, max, temperature, out] = [0, 1, 2, 3, 4];
  expLogits(b, ptr, vocab, out, logitArgs(b, max, temperature));
  sumInOrder(b, out, vocab);
  return { name: "tempered", params: [I32, I32, F64, F64, I32], results: [F64], body: b, export: true };
}

/**
 * LayerNorm of one row (float64 sums in index order, as the JavaScript decoder did): `x`, `g`,
 * `bias` and `out` are i32 locals holding byte addresses.
 */
function emitNormRow(b: Body, d: number, x: number, g: number, bias: number, out: number): void {
  const i = b.local(I32);
  const mean = b.local(F64);
  const v = b.local(F64);
  const dx = b.local(F64);
  const inv = b.local(F64);
  b.f64(0).set(mean).f64(0).set(v);
  b.for(
    i,
    () => b.i32(0),
    () => b.i32(4 * d),
    4,
    () => b.get(mean).get(x).get(i).op(I32_ADD).mem(F32_LOAD, 2).op(F64_PROMOTE_F32).op(F64_ADD).set(mean),
  );
  b.get(mean).f64(d).op(F64_DIV).set(mean);
  b.for(
    i,
    () => b.i32(0),
    () => b.i32(4 * d),
    4,
    () => {
      b.get(x).get(i).op(I32_ADD).mem(F32_LOAD, 2).op(F64_PROMOTE_F32).get(mean).op(F64_SUB).set(dx);
      b.get(v).get(dx).get(dx).op(F64_MUL).op(F64_ADD).set(v);
    },
  );
  b.f64(1).get(v).f64(d).op(F64_DIV).f64(LAYER_NORM_EPS).op(F64_ADD).op(F64_SQRT).op(F64_DIV).set(inv);
  // out = (x - mean) * inv * g + b, two lanes at a time
  b.for(
    i,
    () => b.i32(0),
    () => b.i32(4 * d),
    8,
    () => {
      b.get(out).get(i).op(I32_ADD);
      b.get(x).get(i).op(I32_ADD).simdMem(V_LOAD64_ZERO, 2).simd(F64X2_PROMOTE_LOW).get(mean).simd(F64X2_SPLAT).simd(F64X2_SUB);
      b.get(inv).simd(F64X2_SPLAT).simd(F64X2_MUL);
      b.get(g).get(i).op(I32_ADD).simdMem(V_LOAD64_ZERO, 2).simd(F64X2_PROMOTE_LOW).simd(F64X2_MUL);
      b.get(bias).get(i).op(I32_ADD).simdMem(V_LOAD64_ZERO, 2).simd(F64X2_PROMOTE_LOW).simd(F64X2_ADD);
      b.simd(F32X4_DEMOTE_ZERO).simdMem(V_STORE64_LANE, 2, 0, 0);
    },
  );
}

function layerNorm(c: ModelConfig): FunctionDef {
  const d = c.d_model;
  const b = new Body([I32, I32, I32, I32, I32]);
  const [x, rows, g, bias, out] = [0, 1, 2, 3, 4];
  overRows(b, rows, 4 * d, [x, out], ([xr, or]) => emitNormRow(b, d, xr!, g, bias, or!));
  return { name: "layerNorm", params: [I32, I32, I32, I32, I32], results: [], body: b, export: true };
}

function addNorm(c: ModelConfig): FunctionDef {
  const d = c.d_model;
  const b = new Body([I32, I32, I32, I32, I32, I32]);
  const [x, src, rows, g, bias, out] = [0, 1, 2, 3, 4, 5];
  const i = b.local(I32);
  overRows(b, rows, 4 * d, [x, src, out], ([xr, sr, or]) => {
    // float32 sums: the float64 sum of two float32s rounds to the same float32
    b.for(
      i,
      () => b.i32(0),
      () => b.i32(4 * d),
      16,
      () => {
        b.get(xr!).get(i).op(I32_ADD);
        b.get(xr!).get(i).op(I32_ADD).simdMem(V_LOAD, 2).get(sr!).get(i).op(I32_ADD).simdMem(V_LOAD, 2).simd(F32X4_ADD);
        b.simdMem(V_STORE, 2);
      },
    );
    emitNormRow(b, d, xr!, g, bias, or!);
  });
  return { name: "addNorm", params: [I32, I32, I32, I32, I32, I32], results: [], body: b, export: true };
}

function attend(c: ModelConfig): FunctionDef {
  const d = c.d_model;
  const dh = d / c.n_heads;
  const ctx = c.context_length;
  const rowBytes = d * 4;
  const b = new Body([I32, I32, I32, I32, I32, I32]);
  const [rows, table, qkv, out, layer, scratch] = [0, 1, 2, 3, 4, 5];
  const i32 = () => b.local(I32);
  const [r, K, V, pos, len, q, o, h] = [i32(), i32(), i32(), i32(), i32(), i32(), i32(), i32()];
  const [max, sum] = [b.local(F32), b.local(F32)];
  /** Sets K and V to row r's layer caches, pos to its position. */
  const rowCache = () => {
    b.get(table).get(r).i32(8).op(I32_MUL).op(I32_ADD).tee(K).mem(I32_LOAD, 2, 4).set(pos);
    b.get(K)
      .mem(I32_LOAD, 2)
      .get(layer)
      .i32(2 * ctx * rowBytes)
      .op(I32_MUL)
      .op(I32_ADD)
      .tee(K);
    b.i32(ctx * rowBytes)
      .op(I32_ADD)
      .set(V);
  };
  // every row's k and v first: a prefill row attends to the rows before it in the same call
  b.for(
    r,
    () => b.i32(0),
    () => b.get(rows),
    1,
    () => {
      rowCache();
      setAddress(b, q, qkv, r, 3 * rowBytes);
      b.get(K)
        .get(pos)
        .i32(rowBytes)
        .op(I32_MUL)
        .op(I32_ADD)
        .get(q)
        .i32(rowBytes)
        .op(I32_ADD)
        .i32(rowBytes)
        .op(...MEMORY_COPY);
      b.get(V)
        .get(pos)
        .i32(rowBytes)
        .op(I32_MUL)
        .op(I32_ADD)
        .get(q)
        .i32(2 * rowBytes)
        .op(I32_ADD)
        .i32(rowBytes)
        .op(...MEMORY_COPY);
    },
  );
  b.for(
    r,
    () => b.i32(0),
    () => b.get(rows),
    1,
    () => {
      rowCache();
      b.get(pos).i32(1).op(I32_ADD).set(len);
      setAddress(b, q, qkv, r, 3 * rowBytes);
      setAddress(b, o, out, r, rowBytes);
      // h: the head's byte offset in a row
      b.for(
        h,
        () => b.i32(0),
        () => b.i32(rowBytes),
        dh * 4,
        () => {
          b.get(q).get(h).op(I32_ADD).get(K).get(h).op(I32_ADD).get(len).get(scratch).call(HEAD_SCORES).set(max);
          b.get(scratch).get(len).get(max).call(HEAD_SOFTMAX).set(sum);
          b.get(scratch).get(V).get(h).op(I32_ADD).get(len).get(sum).get(o).get(h).op(I32_ADD).call(HEAD_OUTPUT);
        },
      );
    },
  );
  return { name: "attend", params: [I32, I32, I32, I32, I32, I32], results: [], body: b, export: true };
}

/** Assembles and instantiates the kernels for models shaped like `c` on `memory`. */
export function decodeKernels(memory: WebAssembly.Memory, c: ModelConfig): DecodeKernels {
  const dh = c.d_model / c.n_heads;
  if (dh % 4 !== 0 || c.d_ff % 16 !== 0 || c.d_model % 4 !== 0)
    throw new Error(`decode kernels need a head size and d_model divisible by 4, an MLP size divisible by 16`);
  const bytes = assemble(
    [],
    [
      headScores(c.d_model, c.n_heads),
      headSoftmax(),
      headOutput(c.d_model, c.n_heads),
      gelu(),
      attend(c),
      expfArray(),
      normalizer(),
      tempered(),
      layerNorm(c),
      addNorm(c),
    ],
  );
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  return instance.exports as unknown as DecodeKernels;
}
