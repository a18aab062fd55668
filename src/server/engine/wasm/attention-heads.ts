import { Body, F32, type FunctionDef, I32, V128 } from "./assembler.js";
import { dotFour, dotTemps, laneSum, setAddress } from "./emit.js";
import { emitExpF32 } from "./expf.js";
import {
  F32X4_ADD,
  F32X4_DIV,
  F32X4_EXTRACT,
  F32X4_MAX,
  F32X4_MUL,
  F32X4_SPLAT,
  F32X4_SUB,
  F32_LOAD,
  F32_MAX,
  I32_ADD,
  I32_MUL,
  V_LOAD,
  V_STORE,
} from "./opcodes.js";

/**
 * One attention head's three steps for one query, shared by the decoder (queries against the KV
 * cache) and the training graph (queries against the keys before them): scores, softmax and
 * weighted sum, each a wasm function of its own (so each gets registers of its own), float32,
 * four lanes at a time. Keys and values are rows `d` floats apart.
 */

/**
 * Function indices of the three steps in a module whose first functions are `headScores`,
 * `headSoftmax` and `headOutput`, in that order.
 */
export const HEAD_SCORES = 0;
export const HEAD_SOFTMAX = 1;
export const HEAD_OUTPUT = 2;

/**
 * `headScores(q, k, len, scores)`: the scores of one head's query (the `dh` floats at `q`, times
 * `1 / sqrt(dh)`) against the `len` keys at `k` (rows `d` floats apart), four positions at a
 * time: per position, chunk products summed alternately into two accumulators, their sum v, then
 * (v0 + v2) + (v1 + v3), the four positions' sums formed side by side by shuffles. Pads to a
 * whole group of four with -inf (whose exp is 0). @returns the largest score.
 */
export function headScores(d: number, heads: number): FunctionDef {
  const dh = d / heads;
  const rowBytes = d * 4;
  const chunks = dh / 4;
  const b = new Body([I32, I32, I32, I32]);
  const [q, k, len, scores] = [0, 1, 2, 3];
  const [t, kp] = [b.local(I32), b.local(I32)];
  const qs = Array.from({ length: chunks }, () => b.local(V128));
  const mv = b.local(V128);
  const temps = dotTemps(b);
  qs.forEach((qv, j) =>
    b
      .get(q)
      .simdMem(V_LOAD, 2, 16 * j)
      .f32x4(Math.fround(1 / Math.sqrt(dh)))
      .simd(F32X4_MUL)
      .set(qv),
  );
  b.get(k).set(kp);
  b.for(
    t,
    () => b.i32(0),
    () => b.get(len),
    4,
    () => {
      dotFour(b, qs, kp, rowBytes, t, len, scores, temps);
      b.get(kp)
        .i32(4 * rowBytes)
        .op(I32_ADD)
        .set(kp);
    },
  );
  b.get(scores).get(len).i32(4).op(I32_MUL).op(I32_ADD).f32x4(-Infinity).simdMem(V_STORE, 2);
  b.f32x4(-Infinity).set(mv);
  b.for(
    t,
    () => b.i32(0),
    () => b.get(len),
    4,
    () => b.get(mv).get(scores).get(t).i32(4).op(I32_MUL).op(I32_ADD).simdMem(V_LOAD, 2).simd(F32X4_MAX).set(mv),
  );
  b.get(mv)
    .simd(F32X4_EXTRACT, 0)
    .get(mv)
    .simd(F32X4_EXTRACT, 2)
    .op(F32_MAX)
    .get(mv)
    .simd(F32X4_EXTRACT, 1)
    .get(mv)
    .simd(F32X4_EXTRACT, 3)
    .op(F32_MAX)
    .op(F32_MAX);
  return { name: "headScores", params: [I32, I32, I32, I32], results: [F32], body: b };
}

/** `headSoftmax(scores, len, max)`: `e = expf(score - max)` in place. @returns the lane sum of the four lanes' running sums of e. */
export function headSoftmax(): FunctionDef {
  const b = new Body([I32, I32, F32]);
  const [scores, len, max] = [0, 1, 2];
  const [t, at] = [b.local(I32), b.local(I32)];
  const [sv, mv] = [b.local(V128), b.local(V128)];
  const xs = [b.local(V128)];
  const es = [b.local(V128)];
  b.get(max).simd(F32X4_SPLAT).set(mv);
  b.f32x4(0).set(sv);
  b.for(
    t,
    () => b.i32(0),
    () => b.get(len),
    4,
    () => {
      setAddress(b, at, scores, t, 4);
      b.get(at).simdMem(V_LOAD, 2).get(mv).simd(F32X4_SUB).set(xs[0]!);
      emitExpF32(b, xs, es);
      b.get(at).get(es[0]!).simdMem(V_STORE, 2);
      b.get(sv).get(es[0]!).simd(F32X4_ADD).set(sv);
    },
  );
  laneSum(b, sv);
  return { name: "headSoftmax", params: [I32, I32, F32], results: [F32], body: b };
}

/** `headOutput(e, v, len, sum, out)`: `out = (sum_t e_t v_t) / sum` in position order, one accumulator per four features. */
export function headOutput(d: number, heads: number): FunctionDef {
  const dh = d / heads;
  const rowBytes = d * 4;
  const b = new Body([I32, I32, I32, F32, I32]);
  const [es, v, len, sum, out] = [0, 1, 2, 3, 4];
  const [t, vp] = [b.local(I32), b.local(I32)];
  const e = b.local(V128);
  const accs = Array.from({ length: dh / 4 }, () => b.local(V128));
  for (const a of accs) b.f32x4(0).set(a);
  b.get(v).set(vp);
  b.for(
    t,
    () => b.i32(0),
    () => b.get(len),
    1,
    () => {
      b.get(es).get(t).i32(4).op(I32_MUL).op(I32_ADD).mem(F32_LOAD, 2).simd(F32X4_SPLAT).set(e);
      accs.forEach((a, j) =>
        b
          .get(a)
          .get(e)
          .get(vp)
          .simdMem(V_LOAD, 2, 16 * j)
          .simd(F32X4_MUL)
          .simd(F32X4_ADD)
          .set(a),
      );
      b.get(vp).i32(rowBytes).op(I32_ADD).set(vp);
    },
  );
  accs.forEach((a, j) =>
    b
      .get(out)
      .get(a)
      .get(sum)
      .simd(F32X4_SPLAT)
      .simd(F32X4_DIV)
      .simdMem(V_STORE, 2, 16 * j),
  );
  return { name: "headOutput", params: [I32, I32, I32, F32, I32], results: [], body: b };
}
