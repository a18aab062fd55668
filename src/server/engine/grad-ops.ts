import type { GradSaveFunc, Tensor, Tensor2D } from "@tensorflow/tfjs";
import type { Tf } from "./tf-loader.js";
import { wasmHeap } from "./tfjs-wasm.js";
import { attentionKernels } from "./wasm/attention-kernels.js";
import { geluBackwardTail, geluForwardTail, geluKernels, layerNormKernels } from "./wasm/norm-gelu-kernels.js";

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

/** Which inputs of `causalAttention` need a gradient (false: zeros are returned). */
export interface AttentionGrads {
  q: boolean;
  k: boolean;
  v: boolean;
}

/** A zero tensor made in the wasm heap (tf.zeros builds a JavaScript array of zeros and copies it in). */
function heapZeros(tf: Tf, shape: number[]): Tensor {
  return tf.fill(shape, 0, "float32");
}

/**
 * Causal multi-head self-attention core on projected `q`, `k`, `v` (`[batch*seq, d]`), forward
 * and backward as wasm kernels (`wasm/attention-kernels.ts`) that read and write the tensors'
 * memory in place and compute only the causal half: no per-(row, head) tensors, no masked
 * products. The attention probabilities are kept as one tensor for the backward pass.
 */
export function causalAttention(
  tf: Tf,
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  batch: number,
  seq: number,
  heads: number,
  needGrads: AttentionGrads = { q: true, k: true, v: true },
): Tensor2D {
  const d = q.shape[1];
  const { memory, addressOf: at } = wasmHeap(tf, "the training kernels");
  const kernels = attentionKernels(memory, d, heads);
  const shape: [number, number] = [batch * seq, d];
  const zeros = (s: number[]) => heapZeros(tf, s);
  const op = tf.customGrad((qi, ki, vi, save) => {
    const out = zeros(shape);
    // 4 floats of slack: the kernels pad the last row to a group of four
    const probs = zeros([batch * heads * seq * seq + 4]);
    kernels.forward(at(qi as Tensor), at(ki as Tensor), at(vi as Tensor), at(out), at(probs), batch, seq);
    (save as GradSaveFunc)([qi as Tensor, ki as Tensor, vi as Tensor, probs]);
    return {
      value: out,
      gradFunc: (dy, saved) => {
        const [qs, ks, vs, ps] = saved as Tensor[];
        const [dq, dk, dv] = [zeros(shape), zeros(shape), zeros(shape)];
        const scratch = zeros([seq + 4]);
        const flags = (needGrads.q ? 1 : 0) | (needGrads.k ? 2 : 0) | (needGrads.v ? 4 : 0);
        kernels.backward(at(qs!), at(ks!), at(vs!), at(dy as Tensor), at(ps!), at(dq), at(dk), at(dv), batch, seq, flags, at(scratch));
        scratch.dispose();
        return [dq, dk, dv];
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
 * tanh-approximated GELU with its analytic gradient, `x · sigmoid(2y)` with
 * `y = c (x + 0.044715 x³)` (`0.5 (1 + tanh y) = sigmoid(2y)`), forward and backward each one
 * pass of the wasm kernels in `wasm/norm-gelu-kernels.ts`; the sigmoid is kept for the backward.
 */
export function gelu(tf: Tf, x: Tensor): Tensor {
  const { memory, addressOf: at } = wasmHeap(tf, "the training kernels");
  const floats = () => new Float32Array(memory.buffer);
  const kernels = geluKernels(memory);
  const op = tf.customGrad((xi, save) => {
    const xt = xi as Tensor;
    const n = xt.size;
    const out = heapZeros(tf, xt.shape);
    const s = heapZeros(tf, xt.shape);
    kernels.geluForward(at(xt), at(out), at(s), n);
    if (n % 4) geluForwardTail(floats(), at(xt), at(out), at(s), n);
    (save as GradSaveFunc)([xt, s]);
    return {
      value: out,
      gradFunc: (dy, saved) => {
        const [xs, ss] = saved as [Tensor, Tensor];
        const dx = heapZeros(tf, xs.shape);
        kernels.geluBackward(at(xs), at(ss), at(dy as Tensor), at(dx), n);
        if (n % 4) geluBackwardTail(floats(), at(xs), at(ss), at(dy as Tensor), at(dx), n);
        return dx;
      },
    };
  });
  return op(x);
}

/**
 * LayerNorm over the last axis (`d`, a multiple of 4) with frozen gain `g` and bias `b` (`[d]`
 * tensors), forward and backward each one pass of the wasm kernels in
 * `wasm/norm-gelu-kernels.ts`. The gradient flows to `x` only:
 * `dx = inv · (dŷ - mean(dŷ) - x̂ · mean(dŷ · x̂))` with `dŷ = dy · g`.
 */
export function layerNorm(tf: Tf, x: Tensor2D, g: Tensor, b: Tensor, eps: number): Tensor2D {
  const { memory, addressOf: at } = wasmHeap(tf, "the training kernels");
  const [rows, d] = x.shape;
  const kernels = layerNormKernels(memory, d);
  const op = tf.customGrad((xi, save) => {
    const out = heapZeros(tf, [rows, d]);
    const xhat = heapZeros(tf, [rows, d]);
    const inv = heapZeros(tf, [rows]);
    kernels.layerNormForward(at(xi as Tensor), at(g), at(b), at(out), at(xhat), at(inv), rows, eps);
    (save as GradSaveFunc)([xhat, inv]);
    return {
      value: out,
      gradFunc: (dy, saved) => {
        const [xh, iv] = saved as [Tensor, Tensor];
        const dx = heapZeros(tf, [rows, d]);
        kernels.layerNormBackward(at(dy as Tensor), at(g), at(xh), at(iv), at(dx), rows);
        return dx;
      },
    };
  });
  return op(x) as Tensor2D;
}
