import type { GradSaveFunc, Tensor, Tensor2D } from "@tensorflow/tfjs";
import type { Tf } from "./tf-loader.js";

/**
 * Differentiable ops with hand-written gradients. The wasm backend's matmul is ~10x slower for
 * transposed operands, which the built-in gradients use; these gradients only ever multiply by
 * untransposed matrices (frozen weights are kept pre-transposed, small LoRA matrices and
 * activations are transposed explicitly, which is cheap by comparison).
 */

/** `x @ w` for a frozen `w` (`[in, out]`); the gradient flows to `x` only, via `wT` (`[out, in]`). */
export function frozenLinear(tf: Tf, x: Tensor2D, w: Tensor2D, wT: Tensor2D): Tensor2D {
  const op = tf.customGrad((input) => {
    const xi = input as Tensor2D;
    return { value: tf.matMul(xi, w), gradFunc: (dy) => tf.matMul(dy as Tensor2D, wT) };
  });
  return op(x) as Tensor2D;
}

/**
 * `x @ w + scale * (x @ at) @ bt`: a frozen projection with a LoRA update. Gradients flow to
 * `x`, `at` (`[in, r]`) and `bt` (`[r, out]`). With `inputGrad` false the gradient w.r.t. `x` is
 * returned as zeros (for inputs that depend on no trained parameter).
 */
export function loraLinear(tf: Tf, x: Tensor2D, w: Tensor2D, wT: Tensor2D, at: Tensor2D, bt: Tensor2D, scale: number, inputGrad = true): Tensor2D {
  const op = tf.customGrad((xi, ai, bi, save) => {
    const xa = tf.matMul(xi as Tensor2D, ai as Tensor2D);
    (save as GradSaveFunc)([xi as Tensor, ai as Tensor, bi as Tensor, xa]);
    const value = tf.add(tf.matMul(xi as Tensor2D, w), tf.mul(tf.matMul(xa, bi as Tensor2D), scale));
    return {
      value,
      gradFunc: (dy, saved) => {
        const [xs, as, bs, xas] = saved as [Tensor2D, Tensor2D, Tensor2D, Tensor2D];
        const g = tf.mul(dy as Tensor2D, scale) as Tensor2D;
        // gr = scale * dy @ b, with b = btᵀ (`[out, r]`).
        const gr = tf.matMul(g, tf.transpose(bs));
        const dx = inputGrad ? tf.add(tf.matMul(dy as Tensor2D, wT), tf.matMul(gr, tf.transpose(as))) : tf.zerosLike(xs);
        // da = (grᵀ x)ᵀ and db = xaᵀ g: only the thin `[n, r]` operands are transposed (wasm,
        // r·n elements). XNNPACK packs the wide right operand anew, which costs ~4x less than
        // transposing it in JavaScript; the sums run over n in the same order either way.
        const da = tf.transpose(tf.matMul(tf.transpose(gr), xs));
        const db = tf.matMul(tf.transpose(xas), g);
        return [dx, da, db];
      },
    };
  });
  return op(x, at, bt) as Tensor2D;
}

// Hot loops live at module level, not in the per-call closures, so V8 optimizes them once.

/** Block (b, h) of a `[batch*seq, d]` array as `[seq, dh]`, or `[dh, seq]` when transposed, times `mul`. */
function gatherBlock(src: Float32Array, b: number, h: number, seq: number, d: number, dh: number, transposed: boolean, mul: number, out: Float32Array): Float32Array {
  const base = b * seq * d + h * dh;
  for (let t = 0; t < seq; t++) {
    const o = base + t * d;
    if (transposed) for (let i = 0; i < dh; i++) out[i * seq + t] = src[o + i]! * mul;
    else for (let i = 0; i < dh; i++) out[t * dh + i] = src[o + i]! * mul;
  }
  return out;
}

/** Writes `[seq, dh]` (or `[dh, seq]` when transposed) block data into (b, h) of `dst`, times `mul`. */
function scatterBlock(dst: Float32Array, data: Float32Array, b: number, h: number, seq: number, d: number, dh: number, transposed: boolean, mul: number): void {
  const base = b * seq * d + h * dh;
  for (let t = 0; t < seq; t++) {
    const o = base + t * d;
    if (transposed) for (let i = 0; i < dh; i++) dst[o + i] = data[i * seq + t]! * mul;
    else for (let i = 0; i < dh; i++) dst[o + i] = data[t * dh + i]! * mul;
  }
}

/**
 * Causal softmax backward per row: `ds = p * (dp - rowsum(dp * p))`, float64 row sums. `p` is
 * exactly 0 above the diagonal (masked scores underflow), so only `j <= i` is computed and `ds`
 * keeps zeros there.
 */
function softmaxBackward(p: Float32Array, dp: Float32Array, ds: Float32Array, seq: number): void {
  for (let i = 0; i < seq; i++) {
    const o = i * seq;
    let dot = 0;
    for (let j = 0; j <= i; j++) dot += dp[o + j]! * p[o + j]!;
    for (let j = 0; j <= i; j++) ds[o + j] = p[o + j]! * (dp[o + j]! - dot);
  }
}

/** Transpose of a lower-triangular `[n, n]` matrix into `out`, whose lower triangle (below the diagonal) must be zero. */
function transposeLower(src: Float32Array, n: number, out: Float32Array): Float32Array {
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) out[j * n + i] = src[i * n + j]!;
  return out;
}

/** Which inputs of `causalAttention` need a gradient (false: zeros are returned). */
export interface AttentionGrads {
  q: boolean;
  k: boolean;
  v: boolean;
}

/**
 * Causal multi-head self-attention core on projected `q`, `k`, `v` (`[batch*seq, d]`), as
 * per-(row, head) 2-D products, which the wasm matmul runs fastest. `mask` is `[seq, seq]`
 * with 0 on and below the diagonal and a large negative number above it.
 *
 * The per-(row, head) blocks are cut out of the activations in JavaScript (one read of each
 * input), already transposed where a product needs it, because the wasm Slice/Unpack kernels
 * copy the whole input for every piece and transposed matmuls are ~10x slower. The score scale
 * is folded into q. The gradient works on the probabilities as data: the softmax backward and
 * the `[seq, seq]` transposes (`dk = dsᵀ (scale·q)`, `dv = pᵀ dy`) are JavaScript loops, and
 * every product is an untransposed 2-D matmul with a small right operand.
 */
export function causalAttention(
  tf: Tf,
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  batch: number,
  seq: number,
  heads: number,
  mask: Tensor2D,
  needGrads: AttentionGrads = { q: true, k: true, v: true },
): Tensor2D {
  const d = q.shape[1];
  const dh = d / heads;
  const scale = 1 / Math.sqrt(dh);
  const size = seq * dh;
  // Scratch blocks: tf.tensor2d copies its data, so one buffer per use site can be refilled.
  const scratch = Array.from({ length: 4 }, () => new Float32Array(seq * dh));
  const gather = (src: Float32Array, b: number, h: number, transposed: boolean, mul = 1, slot = 0) => gatherBlock(src, b, h, seq, d, dh, transposed, mul, scratch[slot]!);
  const scatter = (dst: Float32Array, data: Float32Array, b: number, h: number, transposed: boolean, mul = 1) => scatterBlock(dst, data, b, h, seq, d, dh, transposed, mul);
  const readAndFree = (t: Tensor): Float32Array => {
    const data = t.dataSync() as Float32Array;
    t.dispose();
    return data;
  };
  const square = new Float32Array(seq * seq);
  const transposeSquare = (src: Float32Array) => transposeLower(src, seq, square);
  const op = tf.customGrad((qi, ki, vi) => {
    const qd = (qi as Tensor).dataSync() as Float32Array;
    const kd = (ki as Tensor).dataSync() as Float32Array;
    const vd = (vi as Tensor).dataSync() as Float32Array;
    const out = new Float32Array(batch * seq * d);
    // Attention probabilities per (row, head), kept as data for the backward pass.
    const probs: Float32Array[] = [];
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const p = tf.tidy(() => {
          const s = tf.matMul(tf.tensor2d(gather(qd, b, h, false, scale, 0), [seq, dh]), tf.tensor2d(gather(kd, b, h, true, 1, 1), [dh, seq]));
          return tf.softmax(tf.add(s, mask)) as Tensor2D;
        });
        const o = tf.tidy(() => tf.matMul(p, tf.tensor2d(gather(vd, b, h, false, 1, 2), [seq, dh])));
        probs.push(readAndFree(p));
        scatter(out, readAndFree(o), b, h, false);
      }
    }
    return {
      value: tf.tensor2d(out, [batch * seq, d]),
      gradFunc: (dy) => {
        // Per (row, head), every product is [seq, seq] @ [seq, dh] or [seq, dh] @ [dh, seq]: the
        // right operand (which XNNPACK packs anew for each fresh tensor) stays small.
        const dyd = (dy as Tensor).dataSync() as Float32Array;
        const n = batch * seq * d;
        const dq = new Float32Array(n);
        const dk = new Float32Array(n);
        const dv = new Float32Array(n);
        const ds = new Float32Array(seq * seq);
        for (let b = 0; b < batch; b++) {
          for (let h = 0; h < heads; h++) {
            const p = probs[b * heads + h]!;
            const dyBlock = tf.tensor2d(gather(dyd, b, h, false, 1, 0), [seq, dh]);
            if (needGrads.v) scatter(dv, readAndFree(tf.tidy(() => tf.matMul(tf.tensor2d(transposeSquare(p), [seq, seq]), dyBlock))), b, h, false);
            if (needGrads.q || needGrads.k) {
              // softmax backward: ds = p * (dp - rowsum(dp * p)), dp = dy vᵀ
              const dp = readAndFree(tf.tidy(() => tf.matMul(dyBlock, tf.tensor2d(gather(vd, b, h, true, 1, 1), [dh, seq]))));
              softmaxBackward(p, dp, ds, seq);
              if (needGrads.q) scatter(dq, readAndFree(tf.tidy(() => tf.matMul(tf.tensor2d(ds, [seq, seq]), tf.tensor2d(gather(kd, b, h, false, 1, 2), [seq, dh])))), b, h, false, scale);
              if (needGrads.k) scatter(dk, readAndFree(tf.tidy(() => tf.matMul(tf.tensor2d(transposeSquare(ds), [seq, seq]), tf.tensor2d(gather(qd, b, h, false, scale, 3), [seq, dh])))), b, h, false);
            }
            dyBlock.dispose();
          }
        }
        const shape: [number, number] = [batch * seq, d];
        return [tf.tensor2d(dq, shape), tf.tensor2d(dk, shape), tf.tensor2d(dv, shape)];
      },
    };
  });
  return op(q, k, v) as Tensor2D;
}

/**
 * Weighted mean cross-entropy: `sum_i w_i * CE(logits_i, target_i) / sum_i w_i`, with the
 * closed-form gradient `(softmax - onehot) * w / sum(w)` instead of differentiating
 * log-softmax op by op. `onehot` is `[n, vocab]`, `weights` is `[n, 1]` already divided by
 * their sum.
 *
 * One wasm Softmax (vectorized exp) gives the probabilities for the gradient, and the log-sum-exp
 * comes from them without a second pass of exponentials: the row maximum `m` has probability
 * `1 / sum_j exp(l_j - m)`, so `log p_target = l_target - m + log(max_j p_j)` (`max_j p_j` is at
 * least `1 / vocab`, so the log never sees an underflowed value). The wasm Exp/Log kernels are
 * scalar and cost ~10x more per element than Softmax.
 */
export function weightedCrossEntropy(tf: Tf, logits: Tensor2D, onehot: Tensor2D, weights: Tensor2D): Tensor {
  const op = tf.customGrad((li, save) => {
    const l = li as Tensor2D;
    const p = tf.softmax(l);
    (save as GradSaveFunc)([p]);
    const logpTarget = tf.add(tf.sub(tf.sum(tf.mul(l, onehot), 1, true), tf.max(l, 1, true)), tf.log(tf.max(p, 1, true)));
    const value = tf.neg(tf.sum(tf.mul(logpTarget, weights)));
    return {
      value,
      gradFunc: (dy, saved) => tf.mul(tf.mul(tf.sub(saved[0]!, onehot), weights), dy),
    };
  });
  return op(logits);
}

/**
 * tanh-approximated GELU with its analytic gradient, computed as `x * sigmoid(2y)` with
 * `y = c (x + 0.044715 x³)`, since `0.5 (1 + tanh y) = sigmoid(2y)` and the wasm Sigmoid kernel is
 * ~3x faster than its Tanh.
 */
export function gelu(tf: Tf, x: Tensor): Tensor {
  const c = Math.sqrt(2 / Math.PI);
  const op = tf.customGrad((xi, save) => {
    const xt = xi as Tensor;
    const s = tf.sigmoid(tf.mul(tf.mul(xt, tf.add(tf.mul(tf.mul(xt, xt), 0.044715), 1)), 2 * c));
    (save as GradSaveFunc)([xt, s]);
    return {
      value: tf.mul(xt, s),
      gradFunc: (dy, saved) => {
        const [xs, ss] = saved as [Tensor, Tensor];
        // with s = sigmoid(2y): d/dx = s + x · 2 s (1 - s) · c (1 + 3·0.044715 x²)
        const inner = tf.add(tf.mul(tf.mul(xs, xs), 3 * 0.044715), 1);
        const ds = tf.mul(ss, tf.sub(1, ss));
        const grad = tf.add(ss, tf.mul(tf.mul(tf.mul(xs, ds), inner), 2 * c));
        return tf.mul(dy, grad);
      },
    };
  });
  return op(x);
}

/**
 * LayerNorm over the last axis with frozen gain `g` and bias `b` (`[d]` tensors), as a handful
 * of wasm ops with a hand-written gradient (the elementwise wasm kernels beat a JavaScript pass
 * over the data here, and the autodiff of the same ops would be ~25 ops). The gradient flows to
 * `x` only: `dx = inv · (dŷ - mean(dŷ) - x̂ · mean(dŷ · x̂))` with `dŷ = dy · g`.
 */
export function layerNorm(tf: Tf, x: Tensor2D, g: Tensor, b: Tensor, eps: number): Tensor2D {
  const op = tf.customGrad((xi, save) => {
    const xc = tf.sub(xi as Tensor2D, tf.mean(xi as Tensor2D, 1, true));
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(xc), 1, true), eps));
    const xhat = tf.mul(xc, inv);
    (save as GradSaveFunc)([xhat, inv, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy, saved) => {
        const [xh, iv, gs] = saved as [Tensor, Tensor, Tensor];
        const dg = tf.mul(dy as Tensor, gs);
        return tf.mul(iv, tf.sub(tf.sub(dg, tf.mean(dg, 1, true)), tf.mul(xh, tf.mean(tf.mul(dg, xh), 1, true))));
      },
    };
  });
  return op(x) as Tensor2D;
}
