import { Body, F32, type FunctionDef, I32, V128, type ValType, assemble } from "./assembler.js";
import { type DotTemps, dotFour, dotTemps, laneSum, setAddress } from "./emit.js";
import { HEAD_OUTPUT, HEAD_SCORES, HEAD_SOFTMAX, headOutput, headScores, headSoftmax } from "./attention-heads.js";
import { F32X4_ADD, F32X4_DIV, F32X4_MUL, F32X4_SPLAT, F32X4_SUB, F32_LOAD, I32_ADD, I32_AND, I32_MUL, V_LOAD, V_STORE } from "./opcodes.js";

/**
 * Causal multi-head attention of the training graph, forward and backward, as WebAssembly on the
 * tfjs wasm heap: q, k, v, the output and the gradients are tensors' own memory (`[batch*seq, d]`,
 * row-major), read and written in place, and only the causal half (key position ≤ query
 * position) is computed. Float32, four lanes at a time, in a fixed order of operations that
 * depends only on the (row, head) block, so results are deterministic and independent of the
 * batch's other rows.
 *
 * Forward, per (row b, head h, query i), with `scale = 1 / sqrt(dh)`, by the decoder's per-head
 * steps (`attention-heads.ts`):
 *   s_j = (scale q_i) · k_j for j ≤ i;  e_j = expf(s_j - max s);  o_i = (sum_j e_j v_j) / sum e;  p_j = e_j / sum e
 * The probabilities are kept (`probs`, `batch × heads × seq × seq` floats) for the backward pass:
 *   dv_j += p_ij dy_i;  dp_ij = dy_i · v_j;  ds_ij = p_ij (dp_ij - sum_j p_ij dp_ij);
 *   dq_i = scale sum_j ds_ij k_j;  dk_j += ds_ij (scale q_i)
 */
export interface AttentionKernels {
  forward(q: number, k: number, v: number, out: number, probs: number, batch: number, seq: number): void;
  /** `flags`: 1 computes dq, 2 dk, 4 dv (the others are left as they are). `scratch`: `seq + 4` floats. dk and dv must start at 0. */
  backward(
    q: number,
    k: number,
    v: number,
    dy: number,
    probs: number,
    dq: number,
    dk: number,
    dv: number,
    batch: number,
    seq: number,
    flags: number,
    scratch: number,
  ): void;
}

interface Shape {
  d: number;
  heads: number;
}

/** i32 locals of a kernel, and helpers shared by both. */
class Emitter {
  readonly b: Body;
  readonly dh: number;
  readonly rowBytes: number;
  readonly chunks: number;
  readonly scale: number;
  /** The locals of `dotFour`. */
  readonly dots: DotTemps;

  constructor(
    readonly shape: Shape,
    params: ValType[],
  ) {
    this.b = new Body(params);
    this.dh = shape.d / shape.heads;
    this.rowBytes = shape.d * 4;
    this.chunks = this.dh / 4;
    this.scale = Math.fround(1 / Math.sqrt(this.dh));
    this.dots = dotTemps(this.b);
  }

  i32(): number {
    return this.b.local(I32);
  }

  v128s(n: number): number[] {
    return Array.from({ length: n }, () => this.b.local(V128));
  }

  /** Loads the `dh` floats at byte address `ptr` into the v128 locals `regs`, times `mul` when given. */
  load(regs: number[], ptr: number, mul?: number): void {
    regs.forEach((r, j) => {
      this.b.get(ptr).simdMem(V_LOAD, 2, 16 * j);
      if (mul !== undefined) this.b.f32x4(mul).simd(F32X4_MUL);
      this.b.set(r);
    });
  }

  /** `for (t = 0; t < len; t += step)`. */
  each(t: number, len: number, step: number, inner: () => void): void {
    this.b.for(
      t,
      () => this.b.i32(0),
      () => this.b.get(len),
      step,
      inner,
    );
  }

  /** `accs += splat(f32 at w + 4t) × (dh floats at row)` for the v128 locals `accs`. */
  axpyInto(accs: number[], w: number, t: number, row: number, e: number): void {
    const b = this.b;
    b.get(w).get(t).i32(4).op(I32_MUL).op(I32_ADD).mem(F32_LOAD, 2).simd(F32X4_SPLAT).set(e);
    accs.forEach((a, j) =>
      b
        .get(a)
        .get(e)
        .get(row)
        .simdMem(V_LOAD, 2, 16 * j)
        .simd(F32X4_MUL)
        .simd(F32X4_ADD)
        .set(a),
    );
  }
}

/** Loops over (row b, head h, query i), setting the per-block addresses. */
function forBlocks(
  m: Emitter,
  batch: number,
  seq: number,
  probs: number,
  inner: (loc: { row: number; len: number; prow: number; keys: number }) => void,
): void {
  const b = m.b;
  const [bi, h, i, len, prow, keys, row] = [m.i32(), m.i32(), m.i32(), m.i32(), m.i32(), m.i32(), m.i32()];
  // prow walks the probabilities: block (b, h) then row i, seq floats per row
  b.get(probs).set(prow);
  m.each(bi, batch, 1, () => {
    b.for(
      h,
      () => b.i32(0),
      () => b.i32(m.shape.d * 4),
      m.dh * 4,
      () => {
        // keys = byte offset of (row b, position 0, head h) in a [batch*seq, d] tensor
        b.get(bi).get(seq).op(I32_MUL).i32(m.rowBytes).op(I32_MUL).get(h).op(I32_ADD).set(keys);
        m.each(i, seq, 1, () => {
          b.get(i).i32(1).op(I32_ADD).set(len);
          b.get(keys).get(i).i32(m.rowBytes).op(I32_MUL).op(I32_ADD).set(row);
          inner({ row, len, prow, keys });
          b.get(prow).get(seq).i32(4).op(I32_MUL).op(I32_ADD).set(prow);
        });
      },
    );
  });
}

function forward(shape: Shape): FunctionDef {
  const m = new Emitter(shape, [I32, I32, I32, I32, I32, I32, I32]);
  const b = m.b;
  const [q, k, v, out, probs, batch, seq] = [0, 1, 2, 3, 4, 5, 6];
  const [t, ptr] = [m.i32(), m.i32()];
  const [max, sum] = [b.local(F32), b.local(F32)];
  forBlocks(m, batch, seq, probs, ({ row, len, prow, keys }) => {
    // the decoder's per-head steps: scores into the probabilities' row, their softmax, o_i
    b.get(q).get(row).op(I32_ADD).get(k).get(keys).op(I32_ADD).get(len).get(prow).call(HEAD_SCORES).set(max);
    b.get(prow).get(len).get(max).call(HEAD_SOFTMAX).set(sum);
    b.get(prow).get(v).get(keys).op(I32_ADD).get(len).get(sum).get(out).get(row).op(I32_ADD).call(HEAD_OUTPUT);
    // p = e / sum, kept for the backward pass (the padding's p is 0)
    m.each(t, len, 4, () => {
      setAddress(b, ptr, prow, t, 4);
      b.get(ptr).get(ptr).simdMem(V_LOAD, 2).get(sum).simd(F32X4_SPLAT).simd(F32X4_DIV).simdMem(V_STORE, 2);
    });
  });
  return { name: "forward", params: [I32, I32, I32, I32, I32, I32, I32], results: [], body: b, export: true };
}

function backward(shape: Shape): FunctionDef {
  const m = new Emitter(shape, [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const b = m.b;
  const [q, k, v, dy, probs, dq, dk, dv, batch, seq, flags, scratch] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [t, ptr, dst] = [m.i32(), m.i32(), m.i32()];
  const ys = m.v128s(m.chunks);
  const qs = m.v128s(m.chunks);
  const accs = m.v128s(m.chunks);
  const [sv, e, pv] = m.v128s(3) as [number, number, number];
  const dot = b.local(F32);
  /** Runs `inner` for t < len with `ptr` at row t (head h) of the tensor at `base`. */
  const rows = (len: number, base: number, keys: number, inner: () => void) => {
    b.get(base).get(keys).op(I32_ADD).set(ptr);
    m.each(t, len, 1, () => {
      inner();
      b.get(ptr).i32(m.rowBytes).op(I32_ADD).set(ptr);
    });
  };
  forBlocks(m, batch, seq, probs, ({ row, len, prow, keys }) => {
    b.get(dy).get(row).op(I32_ADD).set(ptr);
    m.load(ys, ptr);
    // dv_t += p_t dy_i
    b.get(flags)
      .i32(4)
      .op(I32_AND)
      .if(() =>
        rows(len, dv, keys, () => {
          b.get(prow).get(t).i32(4).op(I32_MUL).op(I32_ADD).mem(F32_LOAD, 2).simd(F32X4_SPLAT).set(e);
          ys.forEach((y, j) =>
            b
              .get(ptr)
              .get(ptr)
              .simdMem(V_LOAD, 2, 16 * j)
              .get(e)
              .get(y)
              .simd(F32X4_MUL)
              .simd(F32X4_ADD)
              .simdMem(V_STORE, 2, 16 * j),
          );
        }),
      );
    b.get(flags)
      .i32(3)
      .op(I32_AND)
      .if(() => {
        // dp_t = dy_i · v_t into scratch (padding set to 0), dot = sum_t p_t dp_t (lane-wise), ds_t = p_t (dp_t - dot)
        b.get(v).get(keys).op(I32_ADD).set(dst);
        m.each(t, len, 4, () => {
          dotFour(b, ys, dst, m.rowBytes, t, len, scratch, m.dots);
          b.get(dst)
            .i32(4 * m.rowBytes)
            .op(I32_ADD)
            .set(dst);
        });
        b.get(scratch).get(len).i32(4).op(I32_MUL).op(I32_ADD).f32x4(0).simdMem(V_STORE, 2);
        b.f32x4(0).set(sv);
        m.each(t, len, 4, () => {
          b.get(sv).get(prow).get(t).i32(4).op(I32_MUL).op(I32_ADD).simdMem(V_LOAD, 2);
          b.get(scratch).get(t).i32(4).op(I32_MUL).op(I32_ADD).simdMem(V_LOAD, 2).simd(F32X4_MUL).simd(F32X4_ADD).set(sv);
        });
        laneSum(b, sv);
        b.set(dot);
        m.each(t, len, 4, () => {
          setAddress(b, ptr, scratch, t, 4);
          b.get(prow).get(t).i32(4).op(I32_MUL).op(I32_ADD).simdMem(V_LOAD, 2).set(pv);
          b.get(ptr).get(pv).get(ptr).simdMem(V_LOAD, 2).get(dot).simd(F32X4_SPLAT).simd(F32X4_SUB).simd(F32X4_MUL).simdMem(V_STORE, 2);
        });
        // dq_i = scale sum_t ds_t k_t
        b.get(flags)
          .i32(1)
          .op(I32_AND)
          .if(() => {
            for (const a of accs) b.f32x4(0).set(a);
            rows(len, k, keys, () => m.axpyInto(accs, scratch, t, ptr, e));
            b.get(dq).get(row).op(I32_ADD).set(ptr);
            accs.forEach((a, j) =>
              b
                .get(ptr)
                .get(a)
                .f32x4(m.scale)
                .simd(F32X4_MUL)
                .simdMem(V_STORE, 2, 16 * j),
            );
          });
        // dk_t += ds_t (scale q_i)
        b.get(flags)
          .i32(2)
          .op(I32_AND)
          .if(() => {
            b.get(q).get(row).op(I32_ADD).set(ptr);
            m.load(qs, ptr, m.scale);
            rows(len, dk, keys, () => {
              b.get(scratch).get(t).i32(4).op(I32_MUL).op(I32_ADD).mem(F32_LOAD, 2).simd(F32X4_SPLAT).set(e);
              qs.forEach((qv, j) =>
                b
                  .get(ptr)
                  .get(ptr)
                  .simdMem(V_LOAD, 2, 16 * j)
                  .get(e)
                  .get(qv)
                  .simd(F32X4_MUL)
                  .simd(F32X4_ADD)
                  .simdMem(V_STORE, 2, 16 * j),
              );
            });
          });
      });
  });
  return { name: "backward", params: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], results: [], body: b, export: true };
}

const cache = new WeakMap<WebAssembly.Memory, Map<string, AttentionKernels>>();

/** The attention kernels for `d`-wide rows of `heads` heads (`d / heads` a multiple of 4), on `memory`. */
export function attentionKernels(memory: WebAssembly.Memory, d: number, heads: number): AttentionKernels {
  if (d % heads !== 0 || (d / heads) % 4 !== 0) throw new Error(`attention kernels need a head size that is a multiple of 4, got ${d}/${heads}`);
  let byShape = cache.get(memory);
  if (!byShape) cache.set(memory, (byShape = new Map()));
  const key = `${d}/${heads}`;
  let kernels = byShape.get(key);
  if (!kernels) {
    const shape = { d, heads };
    const bytes = assemble([], [headScores(d, heads), headSoftmax(), headOutput(d, heads), forward(shape), backward(shape)]);
    kernels = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as AttentionKernels;
    byShape.set(key, kernels);
  }
  return kernels;
}
