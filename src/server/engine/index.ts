/**
 * The local engine: built-in byte-level transformers and Hugging Face checkpoints (Llama,
 * Mistral, Qwen2, Qwen3) that fine-tune with LoRA and sample on CPU (tfjs wasm), behind the
 * `Engine` contract of `types.ts`. tfjs is only imported by the engine's own modules,
 * dynamically, so importing this index does not load it.
 */
export * from "./types.js";
export { ENGINE_DEFAULTS, createEngine } from "./worker-engine.js";
export { EngineCore } from "./engine-core.js";
export { DEFAULT_MODEL_ID, MODEL_CONFIGS, type ModelConfig } from "./models.js";
export { readSafetensors, writeSafetensors, type F32Tensor } from "./safetensors.js";
export { CheckpointError } from "./hf/checkpoint-error.js";
export type { HfModelSource } from "./hf/hf-checkpoint.js";
