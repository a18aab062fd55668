import { CheckpointError } from "./checkpoint-error.js";

/**
 * One member of the Llama family of decoders, as data: everything the forward pass needs to
 * know about an architecture comes from here, so a new member is a row of `ARCHITECTURES`,
 * not another forward pass.
 */
export interface DecoderSpec {
  /** The config's class name, e.g. `Qwen3ForCausalLM`. */
  architecture: string;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  /** Rows of the LM head (padded rows included). */
  vocab: number;
  rmsEps: number;
  /** Inverse RoPE frequencies, float32, `headDim / 2` of them (scaling already applied). */
  invFreq: Float32Array;
  /** Bias on q/k/v projections (Qwen2 always; Llama and Qwen3 when `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama's `attention_bias` puts one on all four). */
  oBias: boolean;
  /** Bias on the MLP projections (Llama's `mlp_bias`). */
  mlpBias: boolean;
  /** Qwen3's RMSNorm over each head of q and k before RoPE. */
  qkNorm: boolean;
  tieEmbeddings: boolean;
  maxPositions: number;
  /**
   * The sliding attention window, when the config sets one that applies (Mistral's
   * `sliding_window`; Qwen's when `use_sliding_window`): contexts are capped at it, where
   * sliding-window and full causal attention are the same thing.
   */
  slidingWindow: number | undefined;
  /** The config's `torch_dtype` (how the weights are stored; the engine computes in float32). */
  dtype: string;
}

interface Family {
  modelType: string;
  /** Bias on q/k/v and on o, from the config. */
  bias(config: Record<string, unknown>): { qkv: boolean; o: boolean };
  qkNorm: boolean;
}

const flag = (config: Record<string, unknown>, key: string) => config[key] === true;

/** The supported architectures, by the class name `config.json` gives in `architectures`. */
const ARCHITECTURES: Readonly<Record<string, Family>> = {
  LlamaForCausalLM: { modelType: "llama", bias: (c) => ({ qkv: flag(c, "attention_bias"), o: flag(c, "attention_bias") }), qkNorm: false },
  MistralForCausalLM: { modelType: "mistral", bias: () => ({ qkv: false, o: false }), qkNorm: false },
  Qwen2ForCausalLM: { modelType: "qwen2", bias: () => ({ qkv: true, o: false }), qkNorm: false },
  Qwen3ForCausalLM: { modelType: "qwen3", bias: (c) => ({ qkv: flag(c, "attention_bias"), o: flag(c, "attention_bias") }), qkNorm: true },
};

/**
 * Reads a `config.json` object into a `DecoderSpec`.
 * @throws CheckpointError naming the field for an unsupported architecture (with the supported
 *   list), activation or RoPE type, or a missing or inconsistent size.
 */
export function decoderSpec(config: Record<string, unknown>, where: string): DecoderSpec {
  const archs = config.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : undefined;
  const family = architecture ? ARCHITECTURES[architecture] : undefined;
  if (!architecture || !family) {
    throw new CheckpointError(
      `${where}: architecture ${architecture ? JSON.stringify(architecture) : '(none in "architectures")'} is not supported; supported: ${Object.keys(ARCHITECTURES).join(", ")}`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const v = config[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1)
      throw new CheckpointError(`${where}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const hidden = int("hidden_size");
  const heads = int("num_attention_heads");
  const kvHeads = int("num_key_value_heads", heads);
  const headDim = int("head_dim", Math.floor(hidden / heads));
  if (heads % kvHeads !== 0) throw new CheckpointError(`${where}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  if (headDim % 2 !== 0) throw new CheckpointError(`${where}: head_dim ${headDim} must be even for rotary embeddings`);
  const act = config.hidden_act ?? "silu";
  if (act !== "silu") throw new CheckpointError(`${where}: hidden_act ${JSON.stringify(act)} is not supported (only "silu")`);
  const rmsEps = config.rms_norm_eps ?? 1e-6;
  if (typeof rmsEps !== "number" || !(rmsEps > 0)) throw new CheckpointError(`${where}: "rms_norm_eps" must be a positive number`);
  const theta = config.rope_theta ?? 10000;
  if (typeof theta !== "number" || !(theta > 0)) throw new CheckpointError(`${where}: "rope_theta" must be a positive number`);
  const bias = family.bias(config);
  return {
    architecture,
    hidden,
    layers: int("num_hidden_layers"),
    heads,
    kvHeads,
    headDim,
    intermediate: int("intermediate_size"),
    vocab: int("vocab_size"),
    rmsEps,
    invFreq: ropeInvFreq(headDim, theta, config.rope_scaling, where),
    qkvBias: bias.qkv,
    oBias: bias.o,
    mlpBias: flag(config, "mlp_bias"),
    qkNorm: family.qkNorm,
    tieEmbeddings: config.tie_word_embeddings === true,
    maxPositions: int("max_position_embeddings", 2048),
    slidingWindow: slidingWindow(config, family.modelType),
    dtype: typeof config.dtype === "string" ? config.dtype : typeof config.torch_dtype === "string" ? config.torch_dtype : "float32",
  };
}

function slidingWindow(config: Record<string, unknown>, modelType: string): number | undefined {
  const w = config.sliding_window;
  if (typeof w !== "number" || !Number.isInteger(w) || w < 1) return undefined;
  if (modelType === "mistral") return w;
  if ((modelType === "qwen2" || modelType === "qwen3") && config.use_sliding_window === true) return w;
  return undefined;
}

/**
 * transformers' inverse frequencies, in float32 as it computes them: `1 / theta^(2i/dim)`, and
 * for `rope_type: "llama3"` the wavelength-dependent scaling of `_compute_llama3_parameters`.
 */
function ropeInvFreq(dim: number, theta: number, scaling: unknown, where: string): Float32Array {
  const f = Math.fround;
  const inv = new Float32Array(dim / 2);
  // torch: base ** (arange(0, dim, 2).float() / dim), then 1.0 / that, each op rounded to float32.
  for (let i = 0; i < dim / 2; i++) inv[i] = f(1 / f(theta ** f((2 * i) / dim)));
  if (scaling === null || scaling === undefined) return inv;
  if (typeof scaling !== "object") throw new CheckpointError(`${where}: "rope_scaling" must be an object or null`);
  const s = scaling as Record<string, unknown>;
  const type = s.rope_type ?? s.type;
  if (type === "default") return inv;
  if (type !== "llama3") throw new CheckpointError(`${where}: rope_scaling type ${JSON.stringify(type)} is not supported (supported: default, llama3)`);
  const num = (key: string): number => {
    const v = s[key];
    if (typeof v !== "number" || !(v > 0)) throw new CheckpointError(`${where}: rope_scaling.${key} must be a positive number`);
    return v;
  };
  const factor = num("factor");
  const low = num("low_freq_factor");
  const high = num("high_freq_factor");
  const original = num("original_max_position_embeddings");
  const lowWavelen = original / low;
  const highWavelen = original / high;
  for (let i = 0; i < inv.length; i++) {
    const freq = inv[i]!;
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen > lowWavelen) inv[i] = f(freq / factor);
    else if (wavelen >= highWavelen) {
      const smooth = (original / wavelen - low) / (high - low);
      inv[i] = f((1 - smooth) * (freq / factor) + smooth * freq);
    }
  }
  return inv;
}
