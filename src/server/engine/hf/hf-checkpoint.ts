import fs from "node:fs";
import path from "node:path";
import type { TokenCodec } from "../codec.js";
import type { ModelInfo, TargetModule } from "../types.js";
import { CheckpointError } from "./checkpoint-error.js";
import { type DecoderSpec, decoderSpec } from "./decoder-spec.js";
import { loadHfTokenizer } from "./hf-tokenizer.js";
import { type TensorEntry, indexWeights, readJson } from "./weight-files.js";

/** A Hugging Face checkpoint folder to serve (`startServer({ models })`, `serve --model`). */
export interface HfModelSource {
  /** The folder: config.json, model.safetensors (or shards + index), tokenizer.json, ... */
  path: string;
  /** The model id in the API. @default the folder's name */
  id?: string;
  /**
   * Caps the context (prompt + completion, or one training example) below the checkpoint's
   * `max_position_embeddings`, to bound memory. @default max_position_embeddings
   */
  contextLength?: number;
}

/** Projections LoRA can target on the checkpoint architectures, in PEFT's order. */
const HF_TARGET_MODULES: readonly TargetModule[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** A checked checkpoint: what the server lists and tokenizes with; weights are read later by each worker. */
export interface HfCheckpoint {
  id: string;
  dir: string;
  spec: DecoderSpec;
  codec: TokenCodec;
  info: ModelInfo;
  tensors: Map<string, TensorEntry>;
}

/** `[in, out]` of a projection on `spec`. */
export function moduleDims(spec: DecoderSpec, module: TargetModule): [number, number] {
  const { hidden, heads, kvHeads, headDim, intermediate } = spec;
  switch (module) {
    case "q_proj":
      return [hidden, heads * headDim];
    case "k_proj":
    case "v_proj":
      return [hidden, kvHeads * headDim];
    case "o_proj":
      return [heads * headDim, hidden];
    case "gate_proj":
    case "up_proj":
      return [hidden, intermediate];
    case "down_proj":
      return [intermediate, hidden];
  }
}

/** The tensors (name → shape) a checkpoint of `spec` must hold. */
function expectedTensors(spec: DecoderSpec): Map<string, number[]> {
  const out = new Map<string, number[]>();
  out.set("model.embed_tokens.weight", [spec.vocab, spec.hidden]);
  out.set("model.norm.weight", [spec.hidden]);
  if (!spec.tieEmbeddings) out.set("lm_head.weight", [spec.vocab, spec.hidden]);
  for (let i = 0; i < spec.layers; i++) {
    const p = `model.layers.${i}`;
    out.set(`${p}.input_layernorm.weight`, [spec.hidden]);
    out.set(`${p}.post_attention_layernorm.weight`, [spec.hidden]);
    if (spec.qkNorm) {
      out.set(`${p}.self_attn.q_norm.weight`, [spec.headDim]);
      out.set(`${p}.self_attn.k_norm.weight`, [spec.headDim]);
    }
    for (const m of HF_TARGET_MODULES) {
      const group = m.endsWith("_proj") && ["gate_proj", "up_proj", "down_proj"].includes(m) ? "mlp" : "self_attn";
      const [inDim, outDim] = moduleDims(spec, m);
      out.set(`${p}.${group}.${m}.weight`, [outDim, inDim]);
      const bias = group === "mlp" ? spec.mlpBias : m === "o_proj" ? spec.oBias : spec.qkvBias;
      if (bias) out.set(`${p}.${group}.${m}.bias`, [outDim]);
    }
  }
  return out;
}

/**
 * Reads and checks a checkpoint folder without loading its weights: config.json, the safetensors
 * headers (every tensor the architecture needs, with its shape; a truncated file is found here),
 * and the tokenizer.
 * @throws CheckpointError with one line naming the folder or file and the problem.
 */
export function inspectCheckpoint(source: HfModelSource): HfCheckpoint {
  const dir = path.resolve(source.path);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new CheckpointError(`${dir}: not a folder`);
  const configPath = path.join(dir, "config.json");
  const config = readJson(configPath) as Record<string, unknown>;
  if (!config || typeof config !== "object" || Array.isArray(config)) throw new CheckpointError(`${configPath}: not a JSON object`);
  const spec = decoderSpec(config, configPath);
  const tensors = indexWeights(dir);
  for (const [name, shape] of expectedTensors(spec)) {
    const t = tensors.get(name);
    if (!t) throw new CheckpointError(`${dir}: tensor ${name} is missing from the weights (${spec.architecture})`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new CheckpointError(`${t.file}: tensor ${name} has shape [${t.shape}], config.json implies [${shape}]`);
  }
  const codec = loadHfTokenizer(dir, config, spec.vocab);
  if (codec.tokenizerVocab > spec.vocab)
    throw new CheckpointError(`${dir}: tokenizer.json has ids up to ${codec.tokenizerVocab - 1} but vocab_size is ${spec.vocab}`);
  const id = source.id ?? path.basename(dir);
  if (source.contextLength !== undefined && !(Number.isInteger(source.contextLength) && source.contextLength >= 2)) {
    throw new CheckpointError(`${dir}: contextLength must be an integer >= 2, got ${source.contextLength}`);
  }
  const contextLength = Math.min(spec.maxPositions, spec.slidingWindow ?? Infinity, source.contextLength ?? spec.maxPositions);
  let numParameters = 0;
  for (const t of tensors.values()) numParameters += t.shape.reduce((a, b) => a * b, 1);
  const info: ModelInfo = {
    id,
    description: `${spec.architecture} checkpoint from ${dir} (${spec.dtype} weights, computed in float32).`,
    architecture: spec.architecture,
    context_length: contextLength,
    max_position_embeddings: spec.maxPositions,
    vocab_size: spec.vocab,
    num_parameters: numParameters,
    d_model: spec.hidden,
    n_layers: spec.layers,
    n_heads: spec.heads,
    n_kv_heads: spec.kvHeads,
    head_dim: spec.headDim,
    intermediate_size: spec.intermediate,
    dtype: spec.dtype,
    target_modules: [...HF_TARGET_MODULES],
    bos_token_id: codec.bos,
    eos_token_ids: [...codec.stopIds],
  };
  return { id, dir, spec, codec, info, tensors };
}
