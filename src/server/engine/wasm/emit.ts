import { type Body, I32, V128 } from "./assembler.js";
import {
  EVEN_LANES,
  F32X4_ADD,
  F32X4_EXTRACT,
  F32X4_MUL,
  F32_ADD,
  HIGH_PAIRS,
  I32_ADD,
  I32_LT_S,
  I32_MUL,
  I8X16_SHUFFLE,
  LOW_PAIRS,
  ODD_LANES,
  V_LOAD,
  V_STORE,
} from "./opcodes.js";

/** Code shapes the kernels share. */

/** `dest = base + index × stride` (byte addresses, i32 locals). */
export function setAddress(b: Body, dest: number, base: number, index: number, stride: number): void {
  b.get(base).get(index).i32(stride).op(I32_MUL).op(I32_ADD).set(dest);
}

/** Pushes the lane sum `(v0 + v1) + (v2 + v3)` of the f32x4 local `v`. */
export function laneSum(b: Body, v: number): void {
  b.get(v).simd(F32X4_EXTRACT, 0).get(v).simd(F32X4_EXTRACT, 1).op(F32_ADD);
  b.get(v).simd(F32X4_EXTRACT, 2).get(v).simd(F32X4_EXTRACT, 3).op(F32_ADD).op(F32_ADD);
}

/**
 * `for (r = 0; r < rows; r++) row(at, r)` with `at[k]` the byte address of row r of the array
 * at `ptrs[k]` (i32 locals), rows `rowBytes` apart.
 */
export function overRows(b: Body, rows: number, rowBytes: number, ptrs: number[], row: (at: number[], r: number) => void): void {
  const r = b.local(I32);
  const at = ptrs.map(() => b.local(I32));
  b.for(
    r,
    () => b.i32(0),
    () => b.get(rows),
    1,
    () => {
      ptrs.forEach((p, k) => setAddress(b, at[k]!, p, r, rowBytes));
      row(at, r);
    },
  );
}

/** The v128 locals `dotFour` works in. */
export interface DotTemps {
  accA: number;
  accB: number;
  vs: number[];
}

export function dotTemps(b: Body): DotTemps {
  return { accA: b.local(V128), accB: b.local(V128), vs: [0, 1, 2, 3].map(() => b.local(V128)) };
}

/**
 * Dot products of the f32x4 locals `regs` (`4 × regs.length` floats) with the rows
 * `row + p × rowBytes`, p = 0..3 (positions t + p), stored as four floats at `dst + 4t`: per row,
 * chunk products summed alternately into two accumulators, their sum v, then
 * (v0 + v2) + (v1 + v3), the four rows' sums formed side by side by shuffles. A row at or past
 * `len` is not read; its lane holds a stale value the caller overwrites. Each row is a branch of
 * its own (the first's always taken), which also keeps the compiler from hoisting all of the
 * group's loads to its start, where they would spill.
 */
export function dotFour(b: Body, regs: number[], row: number, rowBytes: number, t: number, len: number, dst: number, { accA, accB, vs }: DotTemps): void {
  vs.forEach((v, p) => {
    b.get(t)
      .i32(p)
      .op(I32_ADD)
      .get(len)
      .op(I32_LT_S)
      .if(() => {
        regs.forEach((r, j) => {
          const acc = j % 2 ? accB : accA;
          b.get(row)
            .simdMem(V_LOAD, 2, p * rowBytes + 16 * j)
            .get(r)
            .simd(F32X4_MUL);
          if (j >= 2) b.get(acc).simd(F32X4_ADD);
          b.set(acc);
        });
        b.get(accA);
        if (regs.length > 1) b.get(accB).simd(F32X4_ADD);
        b.set(v);
      });
  });
  for (const [x, y] of [
    [0, 1],
    [2, 3],
  ] as const) {
    b.get(vs[x]!)
      .get(vs[y]!)
      .simd(I8X16_SHUFFLE, ...LOW_PAIRS)
      .get(vs[x]!)
      .get(vs[y]!)
      .simd(I8X16_SHUFFLE, ...HIGH_PAIRS)
      .simd(F32X4_ADD)
      .set(vs[x]!);
  }
  b.get(dst).get(t).i32(4).op(I32_MUL).op(I32_ADD);
  b.get(vs[0]!)
    .get(vs[2]!)
    .simd(I8X16_SHUFFLE, ...EVEN_LANES)
    .get(vs[0]!)
    .get(vs[2]!)
    .simd(I8X16_SHUFFLE, ...ODD_LANES)
    .simd(F32X4_ADD);
  b.simdMem(V_STORE, 2);
}
