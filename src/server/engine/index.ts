/**
 * The local engine: built-in byte-level transformers and Hugging Face checkpoints (Llama,
 * Mistral, Qwen2, Qwen3) that fine-tune with LoRA and sample on CPU (tfjs wasm), behind the `Engine` contract of `types.ts`. tfjs is only imported by the engine's
 * own modules, dynamically, so importing this index does not load it.
 */
export * from "./types.js";
export { createEngine, type EngineOptions } from "./worker-engine.js";
export { EngineCore } from "./engine-core.js";
export { DEFAULT_MODEL_ID, MODELS, MODEL_CONFIGS, listModels, countParameters, type ModelConfig } from "./models.js";
export { SAMPLE_DEFAULTS, type SampleHooks } from "./sample-loop.js";
export { readSafetensors, writeSafetensors, requireTensor, SafetensorsError, type F32Tensor, type SafetensorsFile } from "./safetensors.js";
export { peftName, adapterConfig } from "./lora.js";
export { BOS, EOS, PAD, VOCAB_SIZE, encodeText, decodeTokens } from "./tokenizer.js";
export { BYTE_CODEC, encodeWithBos, type TokenCodec } from "./codec.js";
export { CheckpointError } from "./hf/checkpoint-error.js";
export { ARCHITECTURES } from "./hf/decoder-spec.js";
export { HF_TARGET_MODULES, inspectCheckpoint, type HfModelSource } from "./hf/hf-checkpoint.js";
