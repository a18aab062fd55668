import type {
  CheckpointMode,
  ForwardBackwardRequest,
  ForwardRequest,
  OptimStepRequest,
  RunEvent,
  SampleRequest,
  TrainStepRequest,
} from "../generated/schema.js";

/** Sampling parameters: everything of the wire's `SampleRequest` but the prompts, the conversations and `stream`. */
export type SampleParams = Omit<SampleRequest, "prompts" | "messages" | "stream">;

/** Overrides of one optimizer step (`learning_rate`, `max_grad_norm`, and AdamW's `beta1`, `beta2`, `eps`, `weight_decay`). */
export type OptimStepParams = OptimStepRequest;

/** The loss of a `forwardBackward` call: `loss_fn` (@default "cross_entropy") and `loss_fn_config` (for `ppo` and `cispo`). */
export type ForwardBackwardParams = Omit<ForwardBackwardRequest, "batch">;

/**
 * Options of `forward`: `step` picks a checkpoint (omitted: the live weights); `record_eval`
 * stores the loss and token accuracy as the current step's `eval_loss` / `eval_token_accuracy`.
 */
export type ForwardParams = Omit<ForwardRequest, "batch">;

/** Overrides of one `trainBatch` step (`learning_rate`, `max_grad_norm`, and AdamW's `beta1`, `beta2`, `eps`, `weight_decay`). */
export type TrainBatchParams = Omit<TrainStepRequest, "batch">;

/**
 * What to save: `adapter` (LoRA weights) or `state` (weights and optimizer, restorable exactly),
 * @default "adapter" on the server; and `ttl_seconds`, how long it lives (omitted: forever; then
 * it is gone, a 404 `checkpoint_expired`, and its files are removed).
 */
export interface SaveStateParams {
  mode?: CheckpointMode | undefined;
  ttl_seconds?: number | undefined;
}

/** Options of `embeddings`: `step` picks a checkpoint (omitted: the live weights). */
export interface EmbeddingsParams {
  step?: number | undefined;
}

/** Options of `watchRun`. */
export interface WatchRunOptions {
  /** Stops watching: the loop ends with `APIUserAbortError`. */
  signal?: AbortSignal | undefined;
  /** Resume after this event (the `id` of the last event read, e.g. by an earlier process). @default the run as it is now */
  lastEventId?: string | undefined;
  /**
   * Longest wait between reconnection attempts; the wait starts at the server's `retry:` advice
   * (1 s on the local server) and doubles per failed attempt up to this. @default 30000
   */
  maxReconnectDelay?: number | undefined;
}

/** An event of `watchRun`: the wire `RunEvent` and the SSE `id` it came with (to resume after it). */
export type WatchedRunEvent = RunEvent & { id: string };
