import type { CheckpointMode, OptimStepRequest, SampleRequest, TrainStepRequest } from "../generated/schema.js";

/** Sampling parameters: everything of the wire's `SampleRequest` but the prompts and `stream`. */
export type SampleParams = Omit<SampleRequest, "prompts" | "stream">;

/** Overrides of one optimizer step (`learning_rate`, `max_grad_norm`). */
export type OptimStepParams = OptimStepRequest;

/** Overrides of one `trainBatch` step (`learning_rate`, `max_grad_norm`). */
export type TrainBatchParams = Omit<TrainStepRequest, "batch">;

/** What to save: `adapter` (LoRA weights) or `state` (weights and optimizer, restorable exactly). @default "adapter" on the server */
export interface SaveStateParams {
  mode?: CheckpointMode;
}

/** Options of `embeddings`: `step` picks a checkpoint (omitted: the live weights). */
export interface EmbeddingsParams {
  step?: number | undefined;
}
