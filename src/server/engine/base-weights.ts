import type { ModelConfig } from "./models.js";
import { Rng } from "./rng.js";
import { type F32Tensor, type SafetensorsFile, readSafetensors, requireTensor, writeSafetensors } from "./safetensors.js";

/**
 * Base weights in the layouts the engine computes with. Linear weights are kept in both the
 * PyTorch/HF layout `[out, in]` (as stored on disk) and transposed `[in, out]`, because the
 * wasm matmul is fast only for untransposed operands: forward uses `x @ w`, backward `dy @ wT`.
 */
export interface BaseWeights {
  config: ModelConfig;
  embed: Float32Array; // [V, d]
  pos: Float32Array; // [ctx, d]
  layers: LayerWeights[];
  normG: Float32Array;
  normB: Float32Array;
  /** LM head `[d, V]` (forward) and `[V, d]` (on disk, and the backward product). */
  head: Float32Array;
  headT: Float32Array;
}

interface LayerWeights {
  ln1G: Float32Array;
  ln1B: Float32Array;
  ln2G: Float32Array;
  ln2B: Float32Array;
  /** `[in, out]` for forward; `*T` is `[out, in]`. */
  q: Float32Array;
  qT: Float32Array;
  k: Float32Array;
  kT: Float32Array;
  v: Float32Array;
  vT: Float32Array;
  o: Float32Array;
  oT: Float32Array;
  up: Float32Array; // [d, ff]
  upT: Float32Array;
  down: Float32Array; // [ff, d]
  downT: Float32Array;
}

const PROJ = ["q", "k", "v", "o"] as const;

/** HF-style tensor names, so a pretrained base could be converted and dropped in. */
function names(i: number) {
  const p = `model.layers.${i}`;
  return {
    ln1G: `${p}.input_layernorm.weight`,
    ln1B: `${p}.input_layernorm.bias`,
    ln2G: `${p}.post_attention_layernorm.weight`,
    ln2B: `${p}.post_attention_layernorm.bias`,
    q: `${p}.self_attn.q_proj.weight`,
    k: `${p}.self_attn.k_proj.weight`,
    v: `${p}.self_attn.v_proj.weight`,
    o: `${p}.self_attn.o_proj.weight`,
    up: `${p}.mlp.up_proj.weight`,
    down: `${p}.mlp.down_proj.weight`,
  };
}

/**
 * Seeded initialisation of a built-in model, serialised as safetensors so it goes through the
 * same load path as a file would. Scales keep activations O(1) through the random network
 * (1/sqrt(fan_in) on projections, unit-variance embeddings) so the frozen base is not
 * degenerate and LoRA has signal to work with.
 */
export function initBaseSafetensors(c: ModelConfig): Uint8Array {
  const rng = new Rng(c.seed);
  const d = c.d_model;
  const normal = (shape: number[], std: number): F32Tensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    return { shape, data };
  };
  const fill = (n: number, v: number): F32Tensor => ({ shape: [n], data: new Float32Array(n).fill(v) });
  const entries: [string, F32Tensor][] = [
    ["model.embed_tokens.weight", normal([c.vocab_size, d], 1)],
    ["model.embed_positions.weight", normal([c.context_length, d], 0.5)],
  ];
  for (let i = 0; i < c.n_layers; i++) {
    const n = names(i);
    entries.push([n.ln1G, fill(d, 1)], [n.ln1B, fill(d, 0)], [n.ln2G, fill(d, 1)], [n.ln2B, fill(d, 0)]);
    for (const p of PROJ) entries.push([n[p], normal([d, d], 1 / Math.sqrt(d))]);
    entries.push([n.up, normal([c.d_ff, d], 1 / Math.sqrt(d))]);
    entries.push([n.down, normal([d, c.d_ff], 1 / Math.sqrt(c.d_ff))]);
  }
  entries.push(["model.norm.weight", fill(d, 1)], ["model.norm.bias", fill(d, 0)]);
  entries.push(["lm_head.weight", normal([c.vocab_size, d], 1 / Math.sqrt(d))]);
  return writeSafetensors(entries, { format: "pt", model_id: c.id });
}

function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c]!;
  return out;
}

/**
 * Loads base weights for `config` from safetensors bytes.
 * @throws SafetensorsError when a tensor is missing or has the wrong shape.
 */
export function loadBaseWeights(config: ModelConfig, bytes: Uint8Array): BaseWeights {
  const file: SafetensorsFile = readSafetensors(bytes);
  const d = config.d_model;
  const ff = config.d_ff;
  const V = config.vocab_size;
  const get = (name: string, shape: number[]) => requireTensor(file, name, shape);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.n_layers; i++) {
    const n = names(i);
    const qT = get(n.q, [d, d]);
    const kT = get(n.k, [d, d]);
    const vT = get(n.v, [d, d]);
    const oT = get(n.o, [d, d]);
    const upT = get(n.up, [ff, d]);
    const downT = get(n.down, [d, ff]);
    layers.push({
      ln1G: get(n.ln1G, [d]),
      ln1B: get(n.ln1B, [d]),
      ln2G: get(n.ln2G, [d]),
      ln2B: get(n.ln2B, [d]),
      q: transpose(qT, d, d),
      qT,
      k: transpose(kT, d, d),
      kT,
      v: transpose(vT, d, d),
      vT,
      o: transpose(oT, d, d),
      oT,
      up: transpose(upT, ff, d),
      upT,
      down: transpose(downT, d, ff),
      downT,
    });
  }
  const headT = get("lm_head.weight", [V, d]);
  return {
    config,
    embed: get("model.embed_tokens.weight", [V, d]),
    pos: get("model.embed_positions.weight", [config.context_length, d]),
    layers,
    normG: get("model.norm.weight", [d]),
    normB: get("model.norm.bias", [d]),
    head: transpose(headT, V, d),
    headT,
  };
}
