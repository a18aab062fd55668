import type { LoraLayout } from "./lora.js";
import { BOS, EOS, VOCAB_SIZE } from "./tokenizer.js";
import type { AttentionModule, ModelInfo } from "./types.js";

/** Architecture of a built-in base model (a pre-LayerNorm GPT-style decoder). */
export interface ModelConfig {
  id: string;
  description: string;
  d_model: number;
  n_layers: number;
  n_heads: number;
  /** Hidden size of the MLP. */
  d_ff: number;
  context_length: number;
  vocab_size: number;
  /** Seed of the built-in weights. */
  seed: number;
}

/** The LayerNorm epsilon of the built-in models (training graph and decoder alike). */
export const LAYER_NORM_EPS = 1e-5;

/** The model new runs get when none is named. */
export const DEFAULT_MODEL_ID = "signal-byte-base";

const CONFIGS: ModelConfig[] = [
  {
    id: "signal-byte-base",
    description: "Byte-level decoder-only transformer, d_model 128, 2 layers, 4 heads (seeded weights).",
    d_model: 128,
    n_layers: 2,
    n_heads: 4,
    d_ff: 512,
    context_length: 256,
    vocab_size: VOCAB_SIZE,
    seed: 1,
  },
  {
    id: "signal-byte-tiny",
    description: "Small, fast byte-level transformer for tests: d_model 64, 2 layers, 2 heads (seeded weights).",
    d_model: 64,
    n_layers: 2,
    n_heads: 2,
    d_ff: 256,
    context_length: 256,
    vocab_size: VOCAB_SIZE,
    seed: 2,
  },
];

/** Frozen base parameters: embeddings, per-layer norms/projections/MLP, final norm, LM head. */
function countParameters(c: ModelConfig): number {
  const d = c.d_model;
  const perLayer = 4 * d /* two LayerNorms */ + 4 * d * d + 2 * d * c.d_ff;
  return c.vocab_size * d * 2 + c.context_length * d + c.n_layers * perLayer + 2 * d;
}

/** The class name the built-in models report as their architecture. */
const BYTE_ARCHITECTURE = "SignalByteForCausalLM";

/** Projections LoRA can target on a built-in model (its attention). */
const BYTE_TARGET_MODULES: readonly AttentionModule[] = ["q_proj", "k_proj", "v_proj", "o_proj"];

function info(c: ModelConfig): ModelInfo {
  return {
    id: c.id,
    description: c.description,
    architecture: BYTE_ARCHITECTURE,
    context_length: c.context_length,
    max_position_embeddings: c.context_length,
    vocab_size: c.vocab_size,
    num_parameters: countParameters(c),
    d_model: c.d_model,
    n_layers: c.n_layers,
    n_heads: c.n_heads,
    n_kv_heads: c.n_heads,
    head_dim: c.d_model / c.n_heads,
    intermediate_size: c.d_ff,
    dtype: "float32",
    target_modules: [...BYTE_TARGET_MODULES],
    bos_token_id: BOS,
    eos_token_ids: [EOS],
  };
}

/** LoRA's view of a built-in model: every attention projection is `[d_model, d_model]`. */
export function byteLayout(c: ModelConfig): LoraLayout {
  return { id: c.id, n_layers: c.n_layers, targets: BYTE_TARGET_MODULES, dims: () => [c.d_model, c.d_model] };
}

/** Built-in base models by id. */
export const MODEL_CONFIGS: ReadonlyMap<string, ModelConfig> = new Map(CONFIGS.map((c) => [c.id, c]));

/** Built-in base models, as `listModels` reports them. */
const MODELS: readonly ModelInfo[] = CONFIGS.map(info);

/** The built-in base models (a fresh copy the caller may keep). */
export function listModels(): ModelInfo[] {
  return MODELS.map((m) => ({ ...m }));
}
