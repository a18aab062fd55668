import type { TargetModule } from "../types.js";
import type { HfCheckpoint } from "./hf-checkpoint.js";
import type { OrtMatmul } from "./ort-matmul.js";
import { readTensor } from "./weight-files.js";

/** One projection: `w` is `[in, out]` (the checkpoint's `[out, in]` transposed once, at load). */
interface Linear {
  w: Float32Array;
  b: Float32Array | undefined;
  inDim: number;
  outDim: number;
}

interface Layer {
  inputNorm: Float32Array;
  postNorm: Float32Array;
  qNorm: Float32Array | undefined;
  kNorm: Float32Array | undefined;
  proj: Record<TargetModule, Linear>;
}

/** LoRA pairs by `${layer}.${module}`: `at` `[in, r]`, `bt` `[r, out]`, and the index of their gradients. */
export interface FastLora {
  r: number;
  scale: number;
  pairs: Map<string, { at: Float32Array; bt: Float32Array; index: number }>;
}

/**
 * Per target row of the LM head: given the log-probability of the target, the row's loss term and
 * `g`, where `dloss/dlogits = (softmax - onehot(target)) · g` (true of cross-entropy and of the
 * policy losses). Rows without a target are never asked.
 */
export type RowLoss = (row: number, logp: number) => { value: number; g: number };

const MODULES: readonly TargetModule[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** Rows of the LM head's logits computed at once (`rows × vocab` floats). */
const HEAD_ROWS = 64;

/**
 * The Llama family's decoder as `HfModel` computes it (transformers' float32 arithmetic), written
 * out by hand over Float32Arrays with a hand-derived backward pass for the LoRA tensors, every
 * matrix product on ONNX Runtime (`OrtMatmul`). The base weights are plain arrays held once; a
 * training step saves each layer's activations and walks back through them.
 */
export class HfFastModel {
  private readonly embed: Float32Array;
  /** `[vocab, hidden]`, the embeddings themselves when tied. */
  private readonly head: Float32Array;
  private readonly finalNorm: Float32Array;
  private readonly layers: Layer[] = [];

  constructor(
    readonly checkpoint: HfCheckpoint,
    readonly mm: OrtMatmul,
  ) {
    const { spec, tensors } = checkpoint;
    const read = (name: string) => readTensor(tensors.get(name)!);
    this.embed = read("model.embed_tokens.weight");
    this.head = spec.tieEmbeddings ? this.embed : read("lm_head.weight");
    this.finalNorm = read("model.norm.weight");
    for (let i = 0; i < spec.layers; i++) {
      const p = `model.layers.${i}`;
      const linear = (module: TargetModule, hasBias: boolean): Linear => {
        const group = module === "gate_proj" || module === "up_proj" || module === "down_proj" ? "mlp" : "self_attn";
        const name = `${p}.${group}.${module}`;
        const [outDim, inDim] = tensors.get(`${name}.weight`)!.shape as [number, number];
        return { w: transpose(read(`${name}.weight`), outDim, inDim), b: hasBias ? read(`${name}.bias`) : undefined, inDim, outDim };
      };
      this.layers.push({
        inputNorm: read(`${p}.input_layernorm.weight`),
        postNorm: read(`${p}.post_attention_layernorm.weight`),
        qNorm: spec.qkNorm ? read(`${p}.self_attn.q_norm.weight`) : undefined,
        kNorm: spec.qkNorm ? read(`${p}.self_attn.k_norm.weight`) : undefined,
        proj: {
          q_proj: linear("q_proj", spec.qkvBias),
          k_proj: linear("k_proj", spec.qkvBias),
          v_proj: linear("v_proj", spec.qkvBias),
          o_proj: linear("o_proj", spec.oBias),
          gate_proj: linear("gate_proj", spec.mlpBias),
          up_proj: linear("up_proj", spec.mlpBias),
          down_proj: linear("down_proj", spec.mlpBias),
        },
      });
    }
  }

  get spec() {
    return this.checkpoint.spec;
  }

  /** Float32 bytes of the base weights this model holds. */
  bytes(): number {
    let n = this.embed.length + (this.head === this.embed ? 0 : this.head.length) + this.finalNorm.length;
    for (const l of this.layers) {
      n += l.inputNorm.length + l.postNorm.length + (l.qNorm?.length ?? 0) + (l.kNorm?.length ?? 0);
      for (const m of MODULES) n += l.proj[m].w.length + (l.proj[m].b?.length ?? 0);
    }
    return 4 * n;
  }

  /**
   * The summed loss of a right-padded batch (`rows × seq` ids, `targets` -1 where none) and its
   * gradient w.r.t. every LoRA tensor, added into `grads[index]` (`[dA `[in, r]`, dB `[r, out]`]`).
   * `predicted[t]` gets the most likely next token at each position with a target (the lowest
   * id among equal maxima, as tf.argMax).
   */
  lossAndGrads(
    tokens: Int32Array,
    targets: Int32Array,
    rows: number,
    seq: number,
    lora: FastLora,
    rowLoss: RowLoss,
    grads: [Float32Array, Float32Array][],
    predicted?: Int32Array,
  ): number {
    const { hidden: d, vocab: V, layers } = this.spec;
    const n = rows * seq;
    let x: Float32Array = new Float32Array(n * d);
    for (let t = 0; t < n; t++) x.set(this.embed.subarray(tokens[t]! * d, (tokens[t]! + 1) * d), t * d);
    const rope = this.rope(seq);
    const saved: LayerSaved[] = [];
    for (let li = 0; li < layers; li++) {
      const { saved: s, out } = this.layerForward(li, x, rows, seq, rope, lora);
      saved.push(s);
      x = out;
    }
    const final = rmsNorm(x, this.finalNorm, d, this.spec.rmsEps);
    // The LM head in row blocks: logits, loss and dlogits of a block, then its share of dhidden.
    const dh = new Float32Array(n * d);
    const block = new Float32Array(Math.min(n, HEAD_ROWS) * V);
    let loss = 0;
    for (let r0 = 0; r0 < n; r0 += HEAD_ROWS) {
      const r1 = Math.min(n, r0 + HEAD_ROWS);
      const live: number[] = [];
      for (let t = r0; t < r1; t++) if (targets[t]! >= 0) live.push(t);
      if (live.length === 0) continue;
      const h = new Float32Array(live.length * d);
      live.forEach((t, i) => h.set(final.y.subarray(t * d, (t + 1) * d), i * d));
      const logits = this.mm.mm(h, this.head, live.length, d, V, false, true, 1, block.subarray(0, live.length * V));
      let any = false;
      live.forEach((t, i) => {
        const l = logits.subarray(i * V, (i + 1) * V);
        const target = targets[t]!;
        let max = Number.NEGATIVE_INFINITY;
        let argmax = 0;
        for (let j = 0; j < V; j++) {
          if (l[j]! > max) {
            max = l[j]!;
            argmax = j;
          }
        }
        if (predicted) predicted[t] = argmax;
        const targetLogit = l[target]!;
        // exp(l - max) kept in place: the softmax is that over its sum.
        let sum = 0;
        for (let j = 0; j < V; j++) {
          const e = Math.exp(l[j]! - max);
          l[j] = e;
          sum += e;
        }
        const { value, g } = rowLoss(t, targetLogit - max - Math.log(sum));
        loss += value;
        if (g === 0) {
          l.fill(0);
          return;
        }
        any = true;
        const f = g / sum;
        for (let j = 0; j < V; j++) l[j] = l[j]! * f;
        l[target] = l[target]! - g;
      });
      if (!any) continue;
      const dhBlock = this.mm.mm(logits, this.head, live.length, V, d);
      live.forEach((t, i) => dh.set(dhBlock.subarray(i * d, (i + 1) * d), t * d));
    }
    let dx = rmsNormBackward(dh, final, this.finalNorm, d);
    for (let li = layers - 1; li >= 0; li--) {
      dx = this.layerBackward(li, saved[li]!, dx, rows, seq, rope, lora, grads);
      // Its activations are garbage from here on: the backward pass frees as it goes.
      saved.length = li;
    }
    return loss;
  }

  /**
   * Appends each sequence's `tokens` to its cache (positions `cache.length`...) and returns the
   * final-normed hidden state of every new row, sequences one after another `[sum rows, hidden]`
   * (`HfModel.extend` on this path): the projections of all rows are one product each, attention
   * runs per sequence over its own cache.
   */
  extend(seqs: readonly { cache: FastKvCache; tokens: readonly number[] }[], lora: FastLora | undefined): Float32Array {
    const { hidden: d, heads: H, kvHeads: KV, headDim: hd, intermediate: I, rmsEps: eps } = this.spec;
    const all = seqs.flatMap((s) => s.tokens);
    const n = all.length;
    let x = new Float32Array(n * d);
    all.forEach((tok, t) => x.set(this.embed.subarray(tok * d, (tok + 1) * d), t * d));
    const ropes = seqs.map((s) => this.rope(s.cache.length + s.tokens.length));
    for (const s of seqs) s.cache.reserve(s.cache.length + s.tokens.length);
    const rep = H / KV;
    const scale = hd ** -0.5;
    this.layers.forEach((layer, li) => {
      const h = rmsNorm(x, layer.inputNorm, d, eps).y;
      let q = this.linear(h, n, li, "q_proj", lora).y;
      let k = this.linear(h, n, li, "k_proj", lora).y;
      const v = this.linear(h, n, li, "v_proj", lora).y;
      if (layer.qNorm) q = rmsNorm(q, layer.qNorm, hd, eps).y;
      if (layer.kNorm) k = rmsNorm(k, layer.kNorm, hd, eps).y;
      const merged = new Float32Array(n * H * hd);
      let row = 0;
      seqs.forEach((s, si) => {
        const { cos, sin } = ropes[si]!;
        const past = s.cache.length;
        const kc = s.cache.k[li]!;
        const vc = s.cache.v[li]!;
        const qr = new Float32Array(H * hd);
        const scores = new Float64Array(past + s.tokens.length);
        for (let i = 0; i < s.tokens.length; i++) {
          const pos = past + i;
          const t = row + i;
          ropeInto(k, t * KV * hd, kc, pos * KV * hd, KV, hd, cos, sin, pos);
          vc.set(v.subarray(t * KV * hd, (t + 1) * KV * hd), pos * KV * hd);
          ropeInto(q, t * H * hd, qr, 0, H, hd, cos, sin, pos);
          for (let hh = 0; hh < H; hh++) {
            const g = Math.floor(hh / rep);
            let max = Number.NEGATIVE_INFINITY;
            for (let j = 0; j <= pos; j++) {
              let dot = 0;
              for (let e = 0; e < hd; e++) dot += qr[hh * hd + e]! * kc[(j * KV + g) * hd + e]!;
              scores[j] = Math.fround(dot) * scale;
              if (scores[j]! > max) max = scores[j]!;
            }
            let sum = 0;
            for (let j = 0; j <= pos; j++) {
              scores[j] = Math.exp(scores[j]! - max);
              sum += scores[j]!;
            }
            const o = t * H * hd + hh * hd;
            for (let j = 0; j <= pos; j++) {
              const p = scores[j]! / sum;
              for (let e = 0; e < hd; e++) merged[o + e] = merged[o + e]! + p * vc[(j * KV + g) * hd + e]!;
            }
          }
        }
        row += s.tokens.length;
      });
      const o = this.linear(merged, n, li, "o_proj", lora).y;
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + o[i]!;
      const h2 = rmsNorm(x, layer.postNorm, d, eps).y;
      const gate = this.linear(h2, n, li, "gate_proj", lora).y;
      const up = this.linear(h2, n, li, "up_proj", lora).y;
      const act = new Float32Array(n * I);
      for (let i = 0; i < act.length; i++) act[i] = Math.fround(gate[i]! / (1 + Math.exp(-gate[i]!))) * up[i]!;
      const down = this.linear(act, n, li, "down_proj", lora).y;
      const next = new Float32Array(n * d);
      for (let i = 0; i < next.length; i++) next[i] = x[i]! + down[i]!;
      x = next;
    });
    for (const s of seqs) s.cache.length += s.tokens.length;
    return rmsNorm(x, this.finalNorm, d, eps).y;
  }

  /** Logits `[rows, vocab]` of final hidden states `[rows, hidden]`. */
  logits(hidden: Float32Array, rows: number): Float32Array {
    return this.mm.mm(hidden, this.head, rows, this.spec.hidden, this.spec.vocab, false, true);
  }

  /** cos and sin `[seq, headDim]` of positions 0..seq-1, as `HfModel.rope` computes them. */
  private rope(seq: number): Rope {
    const { invFreq, headDim } = this.spec;
    const half = headDim / 2;
    const cos = new Float32Array(seq * headDim);
    const sin = new Float32Array(seq * headDim);
    for (let t = 0; t < seq; t++) {
      for (let i = 0; i < half; i++) {
        const angle = Math.fround(t * invFreq[i]!);
        cos[t * headDim + i] = cos[t * headDim + half + i] = Math.cos(angle);
        sin[t * headDim + i] = sin[t * headDim + half + i] = Math.sin(angle);
      }
    }
    return { cos, sin };
  }

  private linear(x: Float32Array, n: number, li: number, module: TargetModule, lora: FastLora | undefined): { y: Float32Array; u: Float32Array | undefined } {
    const { w, b, inDim, outDim } = this.layers[li]!.proj[module];
    const y = this.mm.mm(x, w, n, inDim, outDim);
    if (b) for (let t = 0; t < n; t++) for (let j = 0; j < outDim; j++) y[t * outDim + j] = y[t * outDim + j]! + b[j]!;
    const pair = lora?.pairs.get(`${li}.${module}`);
    if (!pair || !lora) return { y, u: undefined };
    const u = this.mm.mm(x, pair.at, n, inDim, lora.r);
    const z = this.mm.mm(u, pair.bt, n, lora.r, outDim);
    for (let i = 0; i < y.length; i++) y[i] = y[i]! + z[i]! * lora.scale;
    return { y, u };
  }

  /** dx of `linear`, adding the LoRA pair's gradients into `grads`. */
  private linearBackward(
    dy: Float32Array,
    x: Float32Array,
    u: Float32Array | undefined,
    n: number,
    li: number,
    module: TargetModule,
    lora: FastLora,
    grads: [Float32Array, Float32Array][],
  ): Float32Array {
    const { w, inDim, outDim } = this.layers[li]!.proj[module];
    const dx = this.mm.mm(dy, w, n, outDim, inDim, false, true);
    const pair = lora.pairs.get(`${li}.${module}`);
    if (!pair || !u) return dx;
    const r = lora.r;
    const [gA, gB] = grads[pair.index]!;
    const dB = this.mm.mm(u, dy, r, n, outDim, true, false);
    for (let i = 0; i < dB.length; i++) gB[i] = gB[i]! + dB[i]! * lora.scale;
    const du = this.mm.mm(dy, pair.bt, n, outDim, r, false, true);
    for (let i = 0; i < du.length; i++) du[i] = du[i]! * lora.scale;
    const dA = this.mm.mm(x, du, inDim, n, r, true, false);
    for (let i = 0; i < dA.length; i++) gA[i] = gA[i]! + dA[i]!;
    const dxl = this.mm.mm(du, pair.at, n, r, inDim, false, true);
    for (let i = 0; i < dx.length; i++) dx[i] = dx[i]! + dxl[i]!;
    return dx;
  }

  /**
   * The causal attention probabilities `[rows·heads, seq, seq]` of Q `[rows·heads, seq, hd]` and
   * K `[rows·kvHeads, seq, hd]` (each KV head serving its group of consecutive query heads).
   * Cheap next to the projections, so the backward pass computes them again rather than keep them.
   */
  private attentionProbs(Q: Float32Array, K: Float32Array, rows: number, seq: number): Float32Array {
    const { heads: H, kvHeads: KV, headDim: hd } = this.spec;
    const P = this.mm.mm(Q, K, (H / KV) * seq, hd, seq, false, true, rows * KV);
    const scale = hd ** -0.5;
    for (let b = 0; b < rows * H; b++) {
      for (let i = 0; i < seq; i++) {
        const row = P.subarray((b * seq + i) * seq, (b * seq + i + 1) * seq);
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= i; j++) {
          row[j] = Math.fround(row[j]! * scale);
          if (row[j]! > max) max = row[j]!;
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) {
          row[j] = Math.exp(row[j]! - max);
          sum += row[j]!;
        }
        for (let j = 0; j <= i; j++) row[j] = row[j]! / sum;
        row.fill(0, i + 1);
      }
    }
    return P;
  }

  private layerForward(li: number, x: Float32Array, rows: number, seq: number, rope: Rope, lora: FastLora): { saved: LayerSaved; out: Float32Array } {
    const layer = this.layers[li]!;
    const { hidden: d, heads: H, kvHeads: KV, headDim: hd, intermediate: I, rmsEps: eps } = this.spec;
    const n = rows * seq;
    const norm1 = rmsNorm(x, layer.inputNorm, d, eps);
    const q = this.linear(norm1.y, n, li, "q_proj", lora);
    const k = this.linear(norm1.y, n, li, "k_proj", lora);
    const v = this.linear(norm1.y, n, li, "v_proj", lora);
    const qn = layer.qNorm ? rmsNorm(q.y, layer.qNorm, hd, eps) : undefined;
    const kn = layer.kNorm ? rmsNorm(k.y, layer.kNorm, hd, eps) : undefined;
    // [rows·heads, seq, hd] layouts for the batched products. The query heads that share a KV
    // head are consecutive, so Q is also [rows·kvHeads, rep·seq, hd] against K and V as they are
    // ([rows·kvHeads, seq, hd]): transformers' `repeat_kv` without the copies.
    const Q = toHeads(qn?.y ?? q.y, rows, seq, H, hd, rope);
    const K = toHeads(kn?.y ?? k.y, rows, seq, KV, hd, rope);
    const Vh = toHeads(v.y, rows, seq, KV, hd, undefined);
    const P = this.attentionProbs(Q, K, rows, seq);
    const O = this.mm.mm(P, Vh, (H / KV) * seq, seq, hd, false, false, rows * KV);
    const merged = fromHeads(O, rows, seq, H, hd);
    const o = this.linear(merged, n, li, "o_proj", lora);
    const x1 = new Float32Array(n * d);
    for (let i = 0; i < x1.length; i++) x1[i] = x[i]! + o.y[i]!;
    const norm2 = rmsNorm(x1, layer.postNorm, d, eps);
    const gate = this.linear(norm2.y, n, li, "gate_proj", lora);
    const up = this.linear(norm2.y, n, li, "up_proj", lora);
    const act = new Float32Array(n * I);
    for (let i = 0; i < act.length; i++) {
      const g = gate.y[i]!;
      act[i] = Math.fround(g / (1 + Math.exp(-g))) * up.y[i]!;
    }
    const down = this.linear(act, n, li, "down_proj", lora);
    const out = new Float32Array(n * d);
    for (let i = 0; i < out.length; i++) out[i] = x1[i]! + down.y[i]!;
    // Only what the backward pass reads and cannot recompute elementwise is kept: not the
    // projections' outputs (but the MLP's), the norms' outputs or the MLP's activation.
    const saved: LayerSaved = {
      norm1: unnormed(norm1),
      qu: q.u,
      ku: k.u,
      vu: v.u,
      qn: qn && unnormed(qn),
      kn: kn && unnormed(kn),
      Q,
      K,
      Vh,
      merged,
      ou: o.u,
      norm2: unnormed(norm2),
      gate,
      up,
      downU: down.u,
    };
    return { saved, out };
  }

  private layerBackward(
    li: number,
    s: LayerSaved,
    dout: Float32Array,
    rows: number,
    seq: number,
    rope: Rope,
    lora: FastLora,
    grads: [Float32Array, Float32Array][],
  ): Float32Array {
    const layer = this.layers[li]!;
    const { hidden: d, heads: H, kvHeads: KV, headDim: hd, intermediate: I } = this.spec;
    const n = rows * seq;
    // MLP: out = x1 + down(silu(gate) · up).
    const act = new Float32Array(n * I);
    for (let i = 0; i < act.length; i++) {
      const g = s.gate.y[i]!;
      act[i] = Math.fround(g / (1 + Math.exp(-g))) * s.up.y[i]!;
    }
    const dact = this.linearBackward(dout, act, s.downU, n, li, "down_proj", lora, grads);
    const dgate = new Float32Array(n * I);
    const dup = new Float32Array(n * I);
    for (let i = 0; i < dgate.length; i++) {
      const g = s.gate.y[i]!;
      const sig = 1 / (1 + Math.exp(-g));
      dup[i] = dact[i]! * g * sig;
      dgate[i] = dact[i]! * s.up.y[i]! * sig * (1 + g * (1 - sig));
    }
    const norm2y = renorm(s.norm2, layer.postNorm, d);
    const dh2 = this.linearBackward(dgate, norm2y, s.gate.u, n, li, "gate_proj", lora, grads);
    const dh2u = this.linearBackward(dup, norm2y, s.up.u, n, li, "up_proj", lora, grads);
    for (let i = 0; i < dh2.length; i++) dh2[i] = dh2[i]! + dh2u[i]!;
    const dx1 = rmsNormBackward(dh2, s.norm2, layer.postNorm, d);
    for (let i = 0; i < dx1.length; i++) dx1[i] = dx1[i]! + dout[i]!;
    // Attention: x1 = x + o_proj(attention(q, k, v)).
    const dmerged = this.linearBackward(dx1, s.merged, s.ou, n, li, "o_proj", lora, grads);
    const dO = toHeads(dmerged, rows, seq, H, hd, undefined);
    const B = rows * H;
    const G = rows * KV;
    const rs = (H / KV) * seq;
    // In the grouped layout of the forward pass, dV and dK sum over the query heads of a group.
    const P = this.attentionProbs(s.Q, s.K, rows, seq);
    const dP = this.mm.mm(dO, s.Vh, rs, hd, seq, false, true, G);
    const dV = this.mm.mm(P, dO, seq, rs, hd, true, false, G);
    const scale = hd ** -0.5;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < seq; i++) {
        const o = (b * seq + i) * seq;
        let dot = 0;
        for (let j = 0; j <= i; j++) dot += dP[o + j]! * P[o + j]!;
        for (let j = 0; j <= i; j++) dP[o + j] = P[o + j]! * (dP[o + j]! - dot) * scale;
        dP.fill(0, o + i + 1, o + seq);
      }
    }
    const dQ = this.mm.mm(dP, s.K, rs, seq, hd, false, false, G);
    const dK = this.mm.mm(dP, s.Q, seq, rs, hd, true, false, G);
    let dq = fromHeadsBackward(dQ, rows, seq, H, hd, rope);
    let dk = fromHeadsBackward(dK, rows, seq, KV, hd, rope);
    const dv = fromHeadsBackward(dV, rows, seq, KV, hd, undefined);
    if (s.qn) dq = rmsNormBackward(dq, s.qn, layer.qNorm!, hd);
    if (s.kn) dk = rmsNormBackward(dk, s.kn, layer.kNorm!, hd);
    const norm1y = renorm(s.norm1, layer.inputNorm, d);
    const dh = this.linearBackward(dq, norm1y, s.qu, n, li, "q_proj", lora, grads);
    const dhk = this.linearBackward(dk, norm1y, s.ku, n, li, "k_proj", lora, grads);
    const dhv = this.linearBackward(dv, norm1y, s.vu, n, li, "v_proj", lora, grads);
    for (let i = 0; i < dh.length; i++) dh[i] = dh[i]! + dhk[i]! + dhv[i]!;
    const dx = rmsNormBackward(dh, s.norm1, layer.inputNorm, d);
    for (let i = 0; i < dx.length; i++) dx[i] = dx[i]! + dx1[i]!;
    return dx;
  }
}

interface Rope {
  cos: Float32Array;
  sin: Float32Array;
}

/** One sequence's keys (after RoPE) and values per layer, `[positions, kvHeads·headDim]` each, grown as it extends. */
export class FastKvCache {
  k: Float32Array[];
  v: Float32Array[];
  length = 0;
  private capacity = 0;

  constructor(
    private readonly layers: number,
    private readonly width: number,
  ) {
    this.k = Array.from({ length: layers }, () => new Float32Array(0));
    this.v = Array.from({ length: layers }, () => new Float32Array(0));
  }

  /** Room for `positions` (doubling, so a decode step rarely copies). */
  reserve(positions: number): void {
    if (positions <= this.capacity) return;
    const cap = Math.max(positions, 2 * this.capacity, 16);
    const grow = (a: Float32Array) => {
      const b = new Float32Array(cap * this.width);
      b.set(a.subarray(0, this.length * this.width));
      return b;
    };
    this.k = this.k.map(grow);
    this.v = this.v.map(grow);
    this.capacity = cap;
  }

  fork(): FastKvCache {
    const c = new FastKvCache(this.layers, this.width);
    c.reserve(this.length);
    this.k.forEach((a, i) => c.k[i]!.set(a.subarray(0, this.length * this.width)));
    this.v.forEach((a, i) => c.v[i]!.set(a.subarray(0, this.length * this.width)));
    c.length = this.length;
    return c;
  }

  /** Nothing to free (plain arrays); here so both caches are used alike. */
  dispose(): void {}
}

/** RoPE (`x · cos + rotate_half(x) · sin` at `pos`) of `heads` vectors of `hd` from `src` at `from` into `dst` at `to`. */
function ropeInto(
  src: Float32Array,
  from: number,
  dst: Float32Array,
  to: number,
  heads: number,
  hd: number,
  cos: Float32Array,
  sin: Float32Array,
  pos: number,
): void {
  const half = hd / 2;
  const cs = cos.subarray(pos * hd, (pos + 1) * hd);
  const sn = sin.subarray(pos * hd, (pos + 1) * hd);
  for (let h = 0; h < heads; h++) {
    const s = from + h * hd;
    const o = to + h * hd;
    for (let i = 0; i < half; i++) {
      dst[o + i] = Math.fround(src[s + i]! * cs[i]!) - Math.fround(src[s + i + half]! * sn[i]!);
      dst[o + i + half] = Math.fround(src[s + i + half]! * cs[i + half]!) + Math.fround(src[s + i]! * sn[i + half]!);
    }
  }
}

/** An RMSNorm as its backward pass needs it: the input and `1/sqrt(mean(x²) + eps)` per vector. */
interface NormSaved {
  x: Float32Array;
  rs: Float32Array;
}

/** An RMSNorm's input, its `rs` and its normalised, weighted output. */
interface Normed extends NormSaved {
  y: Float32Array;
}

/** A layer's activations for its backward pass (`*u`: a LoRA pair's `x · A`). */
interface LayerSaved {
  norm1: NormSaved;
  qu: Float32Array | undefined;
  ku: Float32Array | undefined;
  vu: Float32Array | undefined;
  qn: NormSaved | undefined;
  kn: NormSaved | undefined;
  /** `[rows·heads, seq, hd]` after RoPE. */
  Q: Float32Array;
  /** `[rows·kvHeads, seq, hd]`, K after RoPE. */
  K: Float32Array;
  Vh: Float32Array;
  merged: Float32Array;
  ou: Float32Array | undefined;
  norm2: NormSaved;
  gate: { y: Float32Array; u: Float32Array | undefined };
  up: { y: Float32Array; u: Float32Array | undefined };
  downU: Float32Array | undefined;
}

function unnormed({ x, rs }: Normed): NormSaved {
  return { x, rs };
}

/** `rmsNorm`'s output again from what was saved of it: the same float32 operations, so the same bits. */
function renorm(s: NormSaved, w: Float32Array, width: number): Float32Array {
  const y = new Float32Array(s.x.length);
  for (let v = 0; v < s.rs.length; v++) {
    const o = v * width;
    const r = s.rs[v]!;
    for (let j = 0; j < width; j++) y[o + j] = w[j]! * Math.fround(s.x[o + j]! * r);
  }
  return y;
}

/** transformers' RMSNorm over consecutive vectors of `width`: `w · x / sqrt(mean(x²) + eps)`. */
function rmsNorm(x: Float32Array, w: Float32Array, width: number, eps: number): Normed {
  const count = x.length / width;
  const y = new Float32Array(x.length);
  const rs = new Float32Array(count);
  for (let v = 0; v < count; v++) {
    const o = v * width;
    let ss = 0;
    for (let j = 0; j < width; j++) ss += x[o + j]! * x[o + j]!;
    const r = Math.fround(1 / Math.sqrt(Math.fround(Math.fround(ss / width) + eps)));
    rs[v] = r;
    for (let j = 0; j < width; j++) y[o + j] = w[j]! * Math.fround(x[o + j]! * r);
  }
  return { x, y, rs };
}

/** dx of `rmsNorm` given dy: `rs · (dy·w - x̂ · mean(dy·w · x̂))`, `x̂ = x · rs`. */
function rmsNormBackward(dy: Float32Array, s: NormSaved, w: Float32Array, width: number): Float32Array {
  const dx = new Float32Array(dy.length);
  for (let v = 0; v < s.rs.length; v++) {
    const o = v * width;
    const r = s.rs[v]!;
    let dot = 0;
    for (let j = 0; j < width; j++) dot += dy[o + j]! * w[j]! * s.x[o + j]! * r;
    dot /= width;
    for (let j = 0; j < width; j++) dx[o + j] = r * (dy[o + j]! * w[j]! - s.x[o + j]! * r * dot);
  }
  return dx;
}

/** `[rows·seq, heads·hd]` → `[rows·heads, seq, hd]`, with RoPE applied when given (`x · cos + rotate_half(x) · sin`). */
function toHeads(x: Float32Array, rows: number, seq: number, heads: number, hd: number, rope: Rope | undefined): Float32Array {
  const out = new Float32Array(rows * heads * seq * hd);
  const half = hd / 2;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < seq; t++) {
      const src = (r * seq + t) * heads * hd;
      for (let h = 0; h < heads; h++) {
        const s = src + h * hd;
        const dst = ((r * heads + h) * seq + t) * hd;
        if (!rope) out.set(x.subarray(s, s + hd), dst);
        else {
          const cs = rope.cos.subarray(t * hd, (t + 1) * hd);
          const sn = rope.sin.subarray(t * hd, (t + 1) * hd);
          for (let i = 0; i < half; i++) {
            out[dst + i] = Math.fround(x[s + i]! * cs[i]!) - Math.fround(x[s + i + half]! * sn[i]!);
            out[dst + i + half] = Math.fround(x[s + i + half]! * cs[i + half]!) + Math.fround(x[s + i]! * sn[i + half]!);
          }
        }
      }
    }
  }
  return out;
}

/** `[rows·heads, seq, hd]` → `[rows·seq, heads·hd]`. */
function fromHeads(x: Float32Array, rows: number, seq: number, heads: number, hd: number): Float32Array {
  const out = new Float32Array(rows * seq * heads * hd);
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < heads; h++)
      for (let t = 0; t < seq; t++)
        out.set(x.subarray(((r * heads + h) * seq + t) * hd, ((r * heads + h) * seq + t + 1) * hd), ((r * seq + t) * heads + h) * hd);
  return out;
}

/** The gradient of `toHeads`: RoPE undone (`dx = dy · cos + rotate_halfᵀ(dy · sin)`). */
function fromHeadsBackward(dy: Float32Array, rows: number, seq: number, heads: number, hd: number, rope: Rope | undefined): Float32Array {
  const out = new Float32Array(rows * seq * heads * hd);
  const half = hd / 2;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < seq; t++) {
      for (let h = 0; h < heads; h++) {
        const src = ((r * heads + h) * seq + t) * hd;
        const dst = ((r * seq + t) * heads + h) * hd;
        if (!rope) out.set(dy.subarray(src, src + hd), dst);
        else {
          const cs = rope.cos.subarray(t * hd, (t + 1) * hd);
          const sn = rope.sin.subarray(t * hd, (t + 1) * hd);
          for (let i = 0; i < half; i++) {
            out[dst + i] = dy[src + i]! * cs[i]! + dy[src + i + half]! * sn[i + half]!;
            out[dst + i + half] = dy[src + i + half]! * cs[i + half]! - dy[src + i]! * sn[i]!;
          }
        }
      }
    }
  }
  return out;
}

/** Row-major transpose of a `[rows, cols]` matrix. */
function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = src[i * cols + j]!;
  return out;
}
