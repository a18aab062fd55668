import { Rng } from "./rng.js";
import { type F32Tensor, readSafetensors, requireTensor, writeSafetensors } from "./safetensors.js";
import type { RunConfig, TargetModule } from "./types.js";

/** Projection order inside a layer (PEFT's); also the order of tensors in every state file. */
const MODULE_ORDER: readonly TargetModule[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** What LoRA needs to know of a base model: its layers, and each projection's `[in, out]`. */
export interface LoraLayout {
  /** The model id, for error messages. */
  id: string;
  n_layers: number;
  /** The projections this model has. */
  targets: readonly TargetModule[];
  dims(module: TargetModule): [number, number];
}

/**
 * One LoRA pair. Kept transposed from the PEFT layout (`at` is `[in, r]`, `bt` is `[r, out]`)
 * so the forward pass is `x @ at @ bt` with untransposed operands only.
 */
export interface LoraPair {
  layer: number;
  module: TargetModule;
  inDim: number;
  outDim: number;
  at: Float32Array;
  bt: Float32Array;
}

/** A run's (or frozen adapter's) LoRA parameters. */
export interface LoraParams {
  r: number;
  /** alpha / r. */
  scale: number;
  pairs: LoraPair[];
}

/** PEFT tensor name of a pair's A or B. */
function peftName(layer: number, module: TargetModule, which: "A" | "B"): string {
  const group = module === "gate_proj" || module === "up_proj" || module === "down_proj" ? "mlp" : "self_attn";
  return `base_model.model.model.layers.${layer}.${group}.${module}.lora_${which}.weight`;
}

function orderedTargets(config: RunConfig): TargetModule[] {
  return MODULE_ORDER.filter((m) => config.target_modules.includes(m));
}

/**
 * Fresh adapter: A drawn from U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming-uniform default)
 * with the run's seed, B zero, so the run starts exactly at the base model.
 */
export function initLora(model: LoraLayout, config: RunConfig): LoraParams {
  const r = config.lora_r;
  const rng = new Rng(config.seed, 0x10a);
  const pairs: LoraPair[] = [];
  for (let layer = 0; layer < model.n_layers; layer++) {
    for (const module of orderedTargets(config)) {
      const [inDim, outDim] = model.dims(module);
      const bound = 1 / Math.sqrt(inDim);
      // Draw in PEFT layout [r, in] so the seed means the same thing as in a PEFT file.
      const a = new Float32Array(r * inDim);
      for (let i = 0; i < a.length; i++) a[i] = (rng.next() * 2 - 1) * bound;
      pairs.push({ layer, module, inDim, outDim, at: transpose(a, r, inDim), bt: new Float32Array(r * outDim) });
    }
  }
  return { r, scale: config.lora_alpha / r, pairs };
}

/** Row-major transpose of a `[rows, cols]` matrix. */
function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = src[i * cols + j]!;
  return out;
}

/**
 * Per-pair tensors in PEFT layout, for a state file. `suffix` distinguishes optimizer moments
 * and gradient sums from the weights themselves.
 */
export function toPeftTensors(lora: LoraParams, values: (pair: LoraPair) => [Float32Array, Float32Array], suffix = ""): [string, F32Tensor][] {
  const { r } = lora;
  const out: [string, F32Tensor][] = [];
  for (const pair of lora.pairs) {
    const [at, bt] = values(pair);
    out.push([peftName(pair.layer, pair.module, "A") + suffix, { shape: [r, pair.inDim], data: transpose(at, pair.inDim, r) }]);
    out.push([peftName(pair.layer, pair.module, "B") + suffix, { shape: [pair.outDim, r], data: transpose(bt, r, pair.outDim) }]);
  }
  return out;
}

/** The adapter as PEFT safetensors bytes. */
export function exportAdapter(lora: LoraParams): Uint8Array {
  return writeSafetensors(
    toPeftTensors(lora, (p) => [p.at, p.bt]),
    { format: "pt" },
  );
}

/** adapter_config.json for PEFT's `LoraConfig`. */
export function adapterConfig(config: RunConfig): Record<string, unknown> {
  return {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: config.base_model,
    r: config.lora_r,
    lora_alpha: config.lora_alpha,
    target_modules: orderedTargets(config),
    lora_dropout: 0,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    revision: null,
  };
}

/**
 * Reads PEFT tensors (weights, or `suffix`ed moments/sums) for every pair `config` implies.
 * @throws SafetensorsError when a tensor is missing or has the wrong shape.
 */
export function readPeftTensors(
  model: LoraLayout,
  config: RunConfig,
  bytes: Uint8Array,
  suffix = "",
): { pairs: LoraPair[]; file: ReturnType<typeof readSafetensors> } {
  const file = readSafetensors(bytes);
  const r = config.lora_r;
  const pairs: LoraPair[] = [];
  for (let layer = 0; layer < model.n_layers; layer++) {
    for (const module of orderedTargets(config)) {
      const [inDim, outDim] = model.dims(module);
      const a = requireTensor(file, peftName(layer, module, "A") + suffix, [r, inDim]);
      const b = requireTensor(file, peftName(layer, module, "B") + suffix, [outDim, r]);
      pairs.push({ layer, module, inDim, outDim, at: transpose(a, r, inDim), bt: transpose(b, outDim, r) });
    }
  }
  return { pairs, file };
}

/** Loads an adapter written by `exportAdapter` (or PEFT). */
export function importAdapter(model: LoraLayout, config: RunConfig, bytes: Uint8Array): LoraParams {
  return { r: config.lora_r, scale: config.lora_alpha / config.lora_r, pairs: readPeftTensors(model, config, bytes).pairs };
}
