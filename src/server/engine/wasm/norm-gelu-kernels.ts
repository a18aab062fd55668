import { Body, F32, type FunctionDef, I32, V128, assemble } from "./assembler.js";
import { GELU_2C, GELU_A, GELU_A3, emitExpF32, expf } from "./expf.js";
import { laneSum, overRows } from "./emit.js";
import {
  F32X4_ADD,
  F32X4_DIV,
  F32X4_MUL,
  F32X4_SPLAT,
  F32X4_SUB,
  F32_ADD,
  F32_DIV,
  F32_LOAD,
  F32_SQRT,
  F32_STORE,
  I32_ADD,
  I32_AND,
  I32_MUL,
  V_LOAD,
  V_STORE,
} from "./opcodes.js";

/**
 * GELU and LayerNorm of the training graph, forward and backward, as WebAssembly on the tfjs wasm
 * heap: each is one pass over the tensors' own memory (float32, four lanes at a time) instead of
 * a dozen elementwise tfjs ops, each a pass of its own.
 *
 * GELU (tanh form, as `x · sigmoid(2y)`, y = c (x + 0.044715 x³), c = sqrt(2 / pi)):
 *   s = 1 / (1 + expf(-2y)), out = x s;  dx = dy (s + 2c x s (1 - s) (1 + 3 · 0.044715 x²))
 * LayerNorm over rows of `d` floats (gain g, bias b; sums in four lanes, then across them):
 *   inv = 1 / sqrt(mean((x - mean x)²) + eps), x̂ = (x - mean x) inv, out = x̂ g + b
 *   dx = inv ((dy g - mean(dy g)) - x̂ mean(dy g x̂))
 */
export interface GeluKernels {
  /** `n` is rounded down to a multiple of 4 (`geluForwardTail` / `geluBackwardTail` do the rest). */
  geluForward(x: number, out: number, s: number, n: number): void;
  geluBackward(x: number, s: number, dy: number, dx: number, n: number): void;
}

export interface LayerNormKernels {
  /** Writes out, x̂ (`rows × d`) and inv (`rows`). */
  layerNormForward(x: number, g: number, b: number, out: number, xhat: number, inv: number, rows: number, eps: number): void;
  layerNormBackward(dy: number, g: number, xhat: number, inv: number, dx: number, rows: number): void;
}

const f = Math.fround;
const A = GELU_A;
const A3 = GELU_A3;
const C2 = GELU_2C;

/** Groups of four floats: `inner(at)` with `at[k]` the group's byte address in the array at `ptrs[k]`. */
function overFloats(b: Body, n: number, ptrs: number[], inner: (at: number[]) => void): void {
  const i = b.local(I32);
  const at = ptrs.map(() => b.local(I32));
  // whole groups of four only: n & ~3 floats
  b.for(
    i,
    () => b.i32(0),
    () => b.get(n).i32(-4).op(I32_AND).i32(4).op(I32_MUL),
    16,
    () => {
      ptrs.forEach((p, k) => b.get(p).get(i).op(I32_ADD).set(at[k]!));
      inner(at);
    },
  );
}

function geluForward(): FunctionDef {
  const b = new Body([I32, I32, I32, I32]);
  const [x, out, s, n] = [0, 1, 2, 3];
  const [xv, z, e] = [b.local(V128), b.local(V128), b.local(V128)];
  overFloats(b, n, [x, out, s], ([xa, oa, sa]) => {
    b.get(xa!).simdMem(V_LOAD, 2).set(xv);
    // z = -(x (x² A + 1)) C2, e = expf(z), s = 1 / (1 + e)
    b.f32x4(0).get(xv).get(xv).get(xv).simd(F32X4_MUL).f32x4(A).simd(F32X4_MUL).f32x4(1).simd(F32X4_ADD).simd(F32X4_MUL);
    b.f32x4(C2).simd(F32X4_MUL).simd(F32X4_SUB).set(z);
    emitExpF32(b, [z], [e]);
    b.get(sa!).f32x4(1).f32x4(1).get(e).simd(F32X4_ADD).simd(F32X4_DIV).tee(e).simdMem(V_STORE, 2);
    b.get(oa!).get(xv).get(e).simd(F32X4_MUL).simdMem(V_STORE, 2);
  });
  return { name: "geluForward", params: [I32, I32, I32, I32], results: [], body: b, export: true };
}

function geluBackward(): FunctionDef {
  const b = new Body([I32, I32, I32, I32, I32]);
  const [x, s, dy, dx, n] = [0, 1, 2, 3, 4];
  const [xv, sv] = [b.local(V128), b.local(V128)];
  overFloats(b, n, [x, s, dy, dx], ([xa, sa, ya, da]) => {
    b.get(xa!).simdMem(V_LOAD, 2).set(xv);
    b.get(sa!).simdMem(V_LOAD, 2).set(sv);
    // dx = dy (s + ((x (s (1 - s))) (x² A3 + 1)) C2)
    b.get(da!).get(ya!).simdMem(V_LOAD, 2).get(sv);
    b.get(xv).get(sv).f32x4(1).get(sv).simd(F32X4_SUB).simd(F32X4_MUL).simd(F32X4_MUL);
    b.get(xv).get(xv).simd(F32X4_MUL).f32x4(A3).simd(F32X4_MUL).f32x4(1).simd(F32X4_ADD).simd(F32X4_MUL);
    b.f32x4(C2).simd(F32X4_MUL).simd(F32X4_ADD).simd(F32X4_MUL).simdMem(V_STORE, 2);
  });
  return { name: "geluBackward", params: [I32, I32, I32, I32, I32], results: [], body: b, export: true };
}

/** `for (j = 0; j < 4d; j += 16)`: byte offsets of a row's groups of four floats. */
function overRow(b: Body, d: number, inner: (j: number) => void): void {
  const j = b.local(I32);
  b.for(
    j,
    () => b.i32(0),
    () => b.i32(4 * d),
    16,
    () => inner(j),
  );
}

/** Pushes the four floats at byte address `base + j`. */
function load(b: Body, base: number, j: number): void {
  b.get(base).get(j).op(I32_ADD).simdMem(V_LOAD, 2);
}

function layerNormForward(d: number): FunctionDef {
  const b = new Body([I32, I32, I32, I32, I32, I32, I32, F32]);
  const [x, g, bias, out, xhat, inv, rows, eps] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [acc, mv, iv, h] = [b.local(V128), b.local(V128), b.local(V128), b.local(V128)];
  const istd = b.local(F32);
  overRows(b, rows, 4 * d, [x, xhat, out], ([xr, hr, or], r) => {
    // mean, then the variance about it
    b.f32x4(0).set(acc);
    overRow(b, d, (j) => {
      b.get(acc);
      load(b, xr!, j);
      b.simd(F32X4_ADD).set(acc);
    });
    laneSum(b, acc);
    b.f32(d).op(F32_DIV).simd(F32X4_SPLAT).set(mv);
    b.f32x4(0).set(acc);
    overRow(b, d, (j) => {
      load(b, xr!, j);
      b.get(mv).simd(F32X4_SUB).tee(h).get(h).simd(F32X4_MUL).get(acc).simd(F32X4_ADD).set(acc);
    });
    b.f32(1);
    laneSum(b, acc);
    b.f32(d).op(F32_DIV).get(eps).op(F32_ADD).op(F32_SQRT).op(F32_DIV).set(istd);
    b.get(inv).get(r).i32(4).op(I32_MUL).op(I32_ADD).get(istd).mem(F32_STORE, 2);
    b.get(istd).simd(F32X4_SPLAT).set(iv);
    // x̂ = (x - mean) inv, out = x̂ g + b
    overRow(b, d, (j) => {
      b.get(hr!).get(j).op(I32_ADD);
      load(b, xr!, j);
      b.get(mv).simd(F32X4_SUB).get(iv).simd(F32X4_MUL).tee(h).simdMem(V_STORE, 2);
      b.get(or!).get(j).op(I32_ADD).get(h);
      load(b, g, j);
      b.simd(F32X4_MUL);
      load(b, bias, j);
      b.simd(F32X4_ADD).simdMem(V_STORE, 2);
    });
  });
  return { name: "layerNormForward", params: [I32, I32, I32, I32, I32, I32, I32, F32], results: [], body: b, export: true };
}

function layerNormBackward(d: number): FunctionDef {
  const b = new Body([I32, I32, I32, I32, I32, I32]);
  const [dy, g, xhat, inv, dx, rows] = [0, 1, 2, 3, 4, 5];
  const [a1, a2, dg, m1, m2, iv] = [b.local(V128), b.local(V128), b.local(V128), b.local(V128), b.local(V128), b.local(V128)];
  const dgOf = (yr: number, j: number) => {
    load(b, yr, j);
    load(b, g, j);
    b.simd(F32X4_MUL).set(dg);
  };
  overRows(b, rows, 4 * d, [dy, xhat, dx], ([yr, hr, dr], r) => {
    // mean(dy g) and mean(dy g x̂)
    b.f32x4(0).set(a1).f32x4(0).set(a2);
    overRow(b, d, (j) => {
      dgOf(yr!, j);
      b.get(a1).get(dg).simd(F32X4_ADD).set(a1);
      b.get(dg);
      load(b, hr!, j);
      b.simd(F32X4_MUL).get(a2).simd(F32X4_ADD).set(a2);
    });
    laneSum(b, a1);
    b.f32(d).op(F32_DIV).simd(F32X4_SPLAT).set(m1);
    laneSum(b, a2);
    b.f32(d).op(F32_DIV).simd(F32X4_SPLAT).set(m2);
    b.get(inv).get(r).i32(4).op(I32_MUL).op(I32_ADD).mem(F32_LOAD, 2).simd(F32X4_SPLAT).set(iv);
    // dx = inv ((dy g - m1) - x̂ m2)
    overRow(b, d, (j) => {
      b.get(dr!).get(j).op(I32_ADD);
      dgOf(yr!, j);
      b.get(dg).get(m1).simd(F32X4_SUB);
      load(b, hr!, j);
      b.get(m2).simd(F32X4_MUL).simd(F32X4_SUB).get(iv).simd(F32X4_MUL).simdMem(V_STORE, 2);
    });
  });
  return { name: "layerNormBackward", params: [I32, I32, I32, I32, I32, I32], results: [], body: b, export: true };
}

const geluCache = new WeakMap<WebAssembly.Memory, GeluKernels>();
const normCache = new WeakMap<WebAssembly.Memory, Map<number, LayerNormKernels>>();

function instantiate<T>(memory: WebAssembly.Memory, functions: FunctionDef[]): T {
  return new WebAssembly.Instance(new WebAssembly.Module(assemble([], functions)), { env: { memory } }).exports as unknown as T;
}

/** The GELU kernels on `memory`. */
export function geluKernels(memory: WebAssembly.Memory): GeluKernels {
  let kernels = geluCache.get(memory);
  if (!kernels) geluCache.set(memory, (kernels = instantiate<GeluKernels>(memory, [geluForward(), geluBackward()])));
  return kernels;
}

/** The LayerNorm kernels for rows of `d` floats (`d` a multiple of 4), on `memory`. */
export function layerNormKernels(memory: WebAssembly.Memory, d: number): LayerNormKernels {
  if (d % 4 !== 0) throw new Error(`LayerNorm kernels need a row size that is a multiple of 4, got ${d}`);
  let byWidth = normCache.get(memory);
  if (!byWidth) normCache.set(memory, (byWidth = new Map()));
  let kernels = byWidth.get(d);
  if (!kernels) byWidth.set(d, (kernels = instantiate<LayerNormKernels>(memory, [layerNormForward(d), layerNormBackward(d)])));
  return kernels;
}

/** GELU forward of the last `n % 4` floats (the kernels take groups of four), the same operations one lane at a time. */
export function geluForwardTail(heap: Float32Array, x: number, out: number, s: number, n: number): void {
  for (let i = n - (n % 4); i < n; i++) {
    const xi = heap[(x >>> 2) + i]!;
    const z = f(0 - f(f(xi * f(f(f(xi * xi) * A) + 1)) * C2));
    const si = f(1 / f(1 + expf(z)));
    heap[(s >>> 2) + i] = si;
    heap[(out >>> 2) + i] = f(xi * si);
  }
}

/** GELU backward of the last `n % 4` floats. */
export function geluBackwardTail(heap: Float32Array, x: number, s: number, dy: number, dx: number, n: number): void {
  for (let i = n - (n % 4); i < n; i++) {
    const xi = heap[(x >>> 2) + i]!;
    const si = heap[(s >>> 2) + i]!;
    const t = f(f(xi * f(si * f(1 - si))) * f(f(f(xi * xi) * A3) + 1));
    heap[(dx >>> 2) + i] = f(heap[(dy >>> 2) + i]! * f(si + f(t * C2)));
  }
}
