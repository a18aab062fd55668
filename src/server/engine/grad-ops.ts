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
 * `x`, `at` (`[in, r]`) and `bt` (`[r, out]`).
 */
export function loraLinear(tf: Tf, x: Tensor2D, w: Tensor2D, wT: Tensor2D, at: Tensor2D, bt: Tensor2D, scale: number): Tensor2D {
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
        const dx = tf.add(tf.matMul(dy as Tensor2D, wT), tf.matMul(gr, tf.transpose(as)));
        const da = tf.matMul(tf.transpose(xs), gr);
        const db = tf.matMul(tf.transpose(xas), g);
        return [dx, da, db];
      },
    };
  });
  return op(x, at, bt) as Tensor2D;
}

/**
 * Causal multi-head self-attention core on projected `q`, `k`, `v` (`[batch*seq, d]`), as
 * per-(row, head) 2-D products, which the wasm matmul runs fastest. `mask` is `[seq, seq]`
 * with 0 on and below the diagonal and a large negative number above it.
 */
export function causalAttention(tf: Tf, q: Tensor2D, k: Tensor2D, v: Tensor2D, batch: number, seq: number, heads: number, mask: Tensor2D): Tensor2D {
  const d = q.shape[1];
  const dh = d / heads;
  const scale = 1 / Math.sqrt(dh);
  const split = (t: Tensor): Tensor2D[] =>
    tf.unstack(tf.reshape(tf.transpose(tf.reshape(t, [batch, seq, heads, dh]), [0, 2, 1, 3]), [batch * heads, seq, dh])) as Tensor2D[];
  const merge = (parts: Tensor[]): Tensor2D =>
    tf.reshape(tf.transpose(tf.reshape(tf.stack(parts), [batch, heads, seq, dh]), [0, 2, 1, 3]), [batch * seq, d]);
  const op = tf.customGrad((qi, ki, vi, save) => {
    const qs = split(qi as Tensor);
    const ks = split(ki as Tensor);
    const vs = split(vi as Tensor);
    const probs: Tensor2D[] = [];
    const outs: Tensor2D[] = [];
    for (let i = 0; i < qs.length; i++) {
      const s = tf.add(tf.mul(tf.matMul(qs[i]!, tf.transpose(ks[i]!)), scale), mask);
      const p = tf.softmax(s) as Tensor2D;
      probs.push(p);
      outs.push(tf.matMul(p, vs[i]!));
    }
    (save as GradSaveFunc)([...qs, ...ks, ...vs, ...probs]);
    return {
      value: merge(outs),
      gradFunc: (dy, saved) => {
        const n = batch * heads;
        const dys = split(dy as Tensor);
        const dq: Tensor2D[] = [];
        const dk: Tensor2D[] = [];
        const dv: Tensor2D[] = [];
        for (let i = 0; i < n; i++) {
          const qh = saved[i] as Tensor2D;
          const kh = saved[n + i] as Tensor2D;
          const vh = saved[2 * n + i] as Tensor2D;
          const p = saved[3 * n + i] as Tensor2D;
          const dp = tf.matMul(dys[i]!, tf.transpose(vh));
          // softmax backward: ds = p * (dp - rowsum(dp * p)), then the 1/sqrt(dh) scale.
          const ds = tf.mul(tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), 1, true))), scale) as Tensor2D;
          dq.push(tf.matMul(ds, kh));
          dk.push(tf.matMul(tf.transpose(ds), qh));
          dv.push(tf.matMul(tf.transpose(p), dys[i]!));
        }
        return [merge(dq), merge(dk), merge(dv)];
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
 */
export function weightedCrossEntropy(tf: Tf, logits: Tensor2D, onehot: Tensor2D, weights: Tensor2D): Tensor {
  const op = tf.customGrad((li, save) => {
    const logp = tf.logSoftmax(li as Tensor2D);
    (save as GradSaveFunc)([logp]);
    const value = tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(logp, onehot), 1, true), weights)));
    return {
      value,
      gradFunc: (dy, saved) => tf.mul(tf.mul(tf.sub(tf.exp(saved[0]!), onehot), weights), dy),
    };
  });
  return op(logits);
}

/** tanh-approximated GELU with its analytic gradient (one fused backward instead of eight ops). */
export function gelu(tf: Tf, x: Tensor): Tensor {
  const c = Math.sqrt(2 / Math.PI);
  const op = tf.customGrad((xi, save) => {
    const x3 = tf.mul(tf.mul(xi as Tensor, xi as Tensor), xi as Tensor);
    const t = tf.tanh(tf.mul(tf.add(xi as Tensor, tf.mul(x3, 0.044715)), c));
    (save as GradSaveFunc)([xi as Tensor, t]);
    return {
      value: tf.mul(tf.mul(xi as Tensor, 0.5), tf.add(t, 1)),
      gradFunc: (dy, saved) => {
        const [xs, ts] = saved as [Tensor, Tensor];
        // d/dx = 0.5(1+t) + 0.5 x (1-t²) c (1 + 3·0.044715 x²)
        const sech2 = tf.sub(1, tf.mul(ts, ts));
        const inner = tf.mul(tf.add(1, tf.mul(tf.mul(xs, xs), 3 * 0.044715)), c);
        const grad = tf.add(tf.mul(tf.add(ts, 1), 0.5), tf.mul(tf.mul(tf.mul(xs, 0.5), sech2), inner));
        return tf.mul(dy, grad);
      },
    };
  });
  return op(x);
}
