import type { Body } from "./assembler.js";
import { F32X4_ADD, F32X4_LT, F32X4_MUL, F32X4_PMIN, F32X4_SUB, I32X4_ADD, I32X4_SHL, V_ANDNOT } from "./opcodes.js";

/**
 * A float32 `exp` for the decoder's attention and GELU: Cephes' `expf` (range reduction by
 * ln 2 in two parts, a degree-5 polynomial, 2^n built from its exponent bits), four lanes at a
 * time in wasm, and the same operations one at a time in JavaScript (`expf`), so tests can hold
 * the two to the same bits. Within 2 float32 ulp of the true value for -87 ≤ x ≤ 88; x < -87
 * gives 0 (true values there are below 1.7e-38), x > 88 gives exp(88), NaN gives NaN.
 *
 * Each wasm float32 operation rounds once, and so does `Math.fround` of the same float64
 * operation on float32 inputs (float64 holds every such sum, product and quotient closely
 * enough that the second rounding cannot differ), which is what makes the JavaScript form exact.
 */

const f = Math.fround;
/** Below this, exp is flushed to 0. */
const LO = -87;
/** Above this, exp(HI) (the callers only need large values to be large). */
const HI = 88;
const LOG2E = f(Math.LOG2E);
/** ln 2 = C1 - C2 with C1 = 355/512 exactly: n * C1 is exact for |n| ≤ 127. */
const C1 = f(0.693359375);
const C2 = f(-2.1219444e-4);
/** 1.5 × 2^23: adding it rounds a float below 2^22 in size to an integer, held in the low mantissa bits. */
const MAGIC = 12582912;
const MAGIC_BITS = 0x4b400000;
const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(f);

/** Round half to even (wasm's `nearest`). */
function nearest(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The float32 exp of the wasm kernels, in JavaScript (the reference they are tested against). */
export function expf(xIn: number): number {
  const x = f(xIn);
  if (x < LO) return 0;
  if (Number.isNaN(x)) return NaN;
  const xc = Math.min(x, HI);
  const n = nearest(f(xc * LOG2E));
  const r = f(f(xc - f(n * C1)) - f(n * C2));
  const z = f(r * r);
  let p = P[0]!;
  for (let i = 1; i < P.length; i++) p = f(f(p * r) + P[i]!);
  return f(f(f(f(p * z) + r) + 1) * 2 ** n);
}

export const GELU_A = f(0.044715);
/** `3 · 0.044715` rounded once (the GELU gradient's cubic term). */
export const GELU_A3 = f(3 * 0.044715);
/** 2 sqrt(2 / pi): tanh(y) = 1 - 2 / (exp(2y) + 1). */
export const GELU_2C = f(2 * Math.sqrt(2 / Math.PI));

/** The decoder's tanh-approximated GELU in float32 (the wasm kernel's operations, one lane). */
export function geluF32(uIn: number): number {
  const u = f(uIn);
  const z = f(f(u + f(f(f(u * u) * u) * GELU_A)) * GELU_2C);
  return f(u - f(u / f(expf(z) + 1)));
}

/**
 * Emits `ys[i] = expf(xs[i])` for v128 locals of four float32 lanes each, the vectors' steps
 * interleaved so their dependency chains overlap.
 */
export function emitExpF32(b: Body, xs: readonly number[], ys: readonly number[]): void {
  const each = (fn: (i: number) => void) => xs.forEach((_, i) => fn(i));
  const vec = () => xs.map(() => b.local(0x7b));
  const [low, xc, m, n, r] = [vec(), vec(), vec(), vec(), vec()];
  each((i) => b.get(xs[i]!).f32x4(LO).simd(F32X4_LT).set(low[i]!));
  // pmin is one x86 instruction (min is several); (HI < x) ? HI : x keeps a NaN x
  each((i) => b.get(xs[i]!).f32x4(HI).simd(F32X4_PMIN).set(xc[i]!));
  // m = x log2e + MAGIC rounds x log2e to an integer (ties to even, as `nearest`) in m's low
  // mantissa bits, which give 2^n below without a float-to-int conversion
  each((i) => b.get(xc[i]!).f32x4(LOG2E).simd(F32X4_MUL).f32x4(MAGIC).simd(F32X4_ADD).set(m[i]!));
  each((i) => b.get(m[i]!).f32x4(MAGIC).simd(F32X4_SUB).set(n[i]!));
  each((i) => b.get(xc[i]!).get(n[i]!).f32x4(C1).simd(F32X4_MUL).simd(F32X4_SUB).get(n[i]!).f32x4(C2).simd(F32X4_MUL).simd(F32X4_SUB).set(r[i]!));
  // p = ((((P0 r + P1) r + P2) r + P3) r + P4) r + P5, left in ys
  each((i) => b.f32x4(P[0]!).set(ys[i]!));
  for (let k = 1; k < P.length; k++) each((i) => b.get(ys[i]!).get(r[i]!).simd(F32X4_MUL).f32x4(P[k]!).simd(F32X4_ADD).set(ys[i]!));
  // y = ((p * r²) + r) + 1, times 2^n (n + 127 in the exponent bits), 0 where x < LO
  each((i) => {
    b.get(ys[i]!).get(r[i]!).get(r[i]!).simd(F32X4_MUL).simd(F32X4_MUL).get(r[i]!).simd(F32X4_ADD).f32x4(1).simd(F32X4_ADD);
    b.get(m[i]!)
      .i32x4(127 - MAGIC_BITS)
      .simd(I32X4_ADD)
      .i32(23)
      .simd(I32X4_SHL)
      .simd(F32X4_MUL);
    b.get(low[i]!).simd(V_ANDNOT).set(ys[i]!);
  });
}
