/**
 * The local engine: a byte-level transformer that fine-tunes with LoRA and samples on CPU
 * (tfjs wasm), behind the `Engine` contract of `types.ts`. tfjs is only imported by the engine's
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
