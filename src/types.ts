import type { CheckpointMode, ForwardBackwardRequest, OptimStepRequest, SampleRequest, TrainStepRequest } from "../generated/schema.js";

/** Sampling parameters: everything of the wire's `SampleRequest` but the prompts, the conversations and `stream`. */
export type SampleParams = Omit<SampleRequest, "prompts" | "messages" | "stream">;

/** Overrides of one optimizer step (`learning_rate`, `max_grad_norm`). */
export type OptimStepParams = OptimStepRequest;

/** The loss of a `forwardBackward` call: `loss_fn` (@default "cross_entropy") and `loss_fn_config` (for `ppo`). */
export type ForwardBackwardParams = Omit<ForwardBackwardRequest, "batch">;

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
