/**
 * The engine's contract with the server. The engine knows nothing of HTTP, keys or disk;
 * the server knows nothing of tensors. Everything that crosses this line is plain data
 * (numbers, strings, Uint8Array), so it can cross a worker-thread boundary unchanged.
 */

import type { TokenCodec } from "./codec.js";

/** A base model (built-in or a Hugging Face checkpoint), as `listModels` reports it. */
export interface ModelInfo {
  /** Stable id, e.g. `signal-byte-base`, or a checkpoint folder's name. */
  id: string;
  description: string;
  /** The architecture's class name (`config.json`'s `architectures[0]` for a checkpoint). */
  architecture: string;
  /**
   * Maximum tokens in one sequence (prompt + completion): `max_position_embeddings`, or less when
   * capped (`contextLength`, `--max-context`) or when the model attends through a sliding window.
   */
  context_length: number;
  /** The positions the architecture was built for. */
  max_position_embeddings: number;
  /** Rows of the LM head (padded rows included): token ids are `[0, vocab_size)`. */
  vocab_size: number;
  /** Parameters of the frozen base model: every tensor of the checkpoint (LoRA not included). */
  num_parameters: number;
  d_model: number;
  n_layers: number;
  n_heads: number;
  /** Key/value heads (fewer than `n_heads` with grouped-query attention). */
  n_kv_heads: number;
  head_dim: number;
  /** Hidden size of the MLP. */
  intermediate_size: number;
  /** How the weights are stored; the engine computes in float32. */
  dtype: string;
  /** The projections LoRA can target on this model. */
  target_modules: TargetModule[];
  /** Beginning-of-sequence id, or null when the model has none. */
  bos_token_id: number | null;
  /** Sampling stops on any of these. */
  eos_token_ids: number[];
}

/** The attention projections (every model has them). */
export type AttentionModule = "q_proj" | "k_proj" | "v_proj" | "o_proj";

/** Projections LoRA can target, by PEFT's names: attention, and the MLP's on checkpoint models. */
export type TargetModule = AttentionModule | "gate_proj" | "up_proj" | "down_proj";

export interface RunConfig {
  base_model: string;
  lora_r: number;
  lora_alpha: number;
  /** @default ["q_proj", "v_proj"] */
  target_modules: TargetModule[];
  learning_rate: number;
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number;
  /** Seeds LoRA A initialisation (B starts at zero). */
  seed: number;
}

/**
 * One training example. Loss masks:
 * - `{prompt, completion}`: loss on the completion tokens only (and the end-of-sequence token).
 * - `{text}`: loss on every token.
 * - `{tokens, weights?}`: raw token ids; `weights[i]` weighs the loss of predicting `tokens[i]`
 *   (so `weights[0]` is ignored); default all 1.
 */
export type Example =
  | { prompt: string; completion: string }
  | { text: string }
  | { tokens: number[]; weights?: number[]; logprobs?: number[]; advantages?: number[] };

/** The loss of a training call; see `LossFn` in the spec for the formulas. */
type LossFn = "cross_entropy" | "importance_sampling" | "ppo" | "cispo" | "linear";

/** A training call's loss and its parameters (the clip thresholds are `ppo`'s and `cispo`'s only). */
export interface LossSpec {
  /** @default "cross_entropy" */
  loss_fn: LossFn;
  /** @default 0.8 for ppo, 0 for cispo */
  clip_low_threshold?: number;
  /** @default 1.2 for ppo, 4 for cispo */
  clip_high_threshold?: number;
}

/** What `forward` returns: per-token log-probabilities, no gradient, no state change. */
export interface ForwardResult {
  /** `logprobs[e][i]`: log-probability of token i of example e given the ones before; `[e][0]` is null. */
  logprobs: (number | null)[][];
  /** Mean of -logprob over the weighted target tokens. */
  loss: number;
  /** Weighted share of the target tokens that are the most likely token given the ones before. */
  token_accuracy: number;
  num_tokens: number;
  num_examples: number;
}

export interface ForwardBackwardResult {
  /** Mean cross-entropy per weighted target token of this call. */
  loss: number;
  /** L2 norm of this call's gradient (before accumulation). */
  grad_norm: number;
  /** Weighted share of the target tokens the model's argmax predicted (cross-entropy calls only). */
  token_accuracy?: number;
  /** Weighted target tokens in this call. */
  num_tokens: number;
  num_examples: number;
}

export interface OptimStepOptions {
  /** Overrides the run's learning rate for this step only. */
  learning_rate?: number;
  /** Clip the mean accumulated gradient to this L2 norm before the update. */
  max_grad_norm?: number;
  /** Override the run's AdamW hyper-parameters (`RunConfig`) for this step only. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  weight_decay?: number;
}

export interface OptimStepResult {
  /** The run's step count after this update (1 after the first). */
  step: number;
  learning_rate: number;
  /** L2 norm of the mean accumulated gradient, before clipping. */
  grad_norm: number;
}

export interface TrainStepResult extends ForwardBackwardResult, OptimStepResult {}

/**
 * A run's complete mutable state, as bytes, so the server can persist it atomically and the
 * engine can resume exactly from it.
 */
export interface RunState {
  step: number;
  /** safetensors, PEFT names: `base_model.model.model.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}.weight`. */
  adapter: Uint8Array;
  /** adapter_config.json contents (PEFT). */
  adapter_config: Record<string, unknown>;
  /** safetensors: AdamW first/second moments per LoRA tensor, plus step. */
  optimizer: Uint8Array;
  /** safetensors: accumulated gradient sums and the number of calls; absent when nothing is accumulated. */
  accumulated?: Uint8Array;
}

export interface SampleParams {
  /** @default 64 */
  max_tokens: number;
  /** 0 means greedy. @default 1 */
  temperature: number;
  /** @default 1 */
  top_p: number;
  /** 0 means off. @default 0 */
  top_k: number;
  /** @default [] */
  stop: string[];
  /** With a seed, each prompt's output is independent of the other prompts in the request. */
  seed?: number;
  /** Samples per prompt. @default 1 */
  n: number;
  /** Return the log-probability of each sampled token. @default false */
  logprobs: boolean;
  /** Return the prompt's tokens and their log-probabilities. @default false */
  prompt_logprobs?: boolean;
  /** Generation also ends on these ids, as on the model's EOS (a chat template's end of turn); never returned. */
  stop_token_ids?: number[];
  /**
   * With `logprobs`, each generated position's this many most likely tokens; with
   * `prompt_logprobs`, each prompt position's. 0 means none. @default 0
   */
  top_logprobs?: number;
}

/** One of the most likely tokens at a position, with its log-probability (as `logprobs` computes it). */
export interface TopLogprob {
  token: number;
  logprob: number;
}

/** A prompt: text (BOS is prepended) or token ids (used as given). */
export type Prompt = string | number[];

/** Which weights to sample from: a live run, or a frozen adapter registered with `loadAdapter`. */
export type WeightsRef = { runId: string } | { adapterKey: string };

export interface Completion {
  /** Index into the flat list: prompt_index * n + sample_index. */
  index: number;
  prompt_index: number;
  text: string;
  tokens: number[];
  /** Present when logprobs was asked for. */
  logprobs?: number[];
  /**
   * With `logprobs`: where each token's text starts in `text` (UTF-16 units), the characters
   * completed before it (a token that completes a character starts where the character does).
   */
  text_offsets?: number[];
  /** The prompt's tokens and their log-probabilities (first null); present when prompt_logprobs was asked for. */
  prompt_tokens?: number[];
  prompt_logprobs?: (number | null)[];
  /** Each generated position's `top_logprobs` most likely tokens; present when logprobs and top_logprobs were asked for. */
  top_logprobs?: TopLogprob[][];
  /** The same for each prompt position (the first null); present when prompt_logprobs and top_logprobs were asked for. */
  prompt_top_logprobs?: (TopLogprob[] | null)[];
  finish_reason: "stop" | "length";
}

export interface SampleResult {
  completions: Completion[];
  prompt_tokens: number;
  completion_tokens: number;
}

/** One streamed piece of a completion: valid UTF-8 text (multi-byte chars are never split). */
export interface TokenEvent {
  index: number;
  prompt_index: number;
  delta: string;
  /** Set on the last event of a completion. */
  finish_reason: "stop" | "length" | null;
  /**
   * The generated token's logprob, when logprobs were asked for. Absent on the event of a stop
   * token (EOS, `stop_token_ids`), which is not part of the completion, as in its result.
   */
  logprob?: number;
  /** The token chosen, with `logprob`. */
  token?: number;
  /** The position's most likely tokens, when logprobs and top_logprobs were asked for. */
  top_logprobs?: TopLogprob[];
  /** With `logprob`: where the token's text starts in the completion's text (UTF-16 units). */
  text_offset?: number;
}

export type EngineErrorCode =
  | "model_not_found"
  | "run_not_found"
  | "adapter_not_found"
  | "context_length_exceeded"
  | "invalid_example"
  | "nothing_accumulated"
  | "non_finite_gradient"
  | "sample_too_large"
  | "aborted";

/** The largest finite float32: the engine computes in float32, so a number past it is infinite there. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** KV-cache memory of one engine thread's sample requests by default (`EngineOptions.kvBudgetBytes`): 256 MiB. */
export const DEFAULT_KV_BUDGET_BYTES = 256 * 1024 * 1024;

/**
 * Flow control of one streamed sampling call, for a consumer that cannot keep up (a client that
 * does not read): while paused, the call's sequences sit out the decoding rounds and send no
 * tokens, and the other requests of the batch go on. Shared memory, so a worker sees it.
 */
export class SampleFlow {
  /** An Int32Array(1) over it: 1 while paused. */
  readonly buffer = new SharedArrayBuffer(4);
  readonly #flag = new Int32Array(this.buffer);

  pause(): void {
    Atomics.store(this.#flag, 0, 1);
  }

  resume(): void {
    Atomics.store(this.#flag, 0, 0);
  }

  get paused(): boolean {
    return Atomics.load(this.#flag, 0) === 1;
  }
}

/** An error the server maps to a 4xx; anything else thrown by the engine is a 500. */
export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** Field path the error is about, e.g. `batch[3]` or `prompts[0]`. */
    readonly param?: string,
  ) {
    super(message);
  }
}

/**
 * The engine. All methods are async: the work runs in worker threads, so the caller's event
 * loop never blocks on a step. Calls for one run are applied in the order they were made.
 */
export interface Engine {
  listModels(): ModelInfo[];
  /** How a model tokenizes (on the calling thread). @throws EngineError `model_not_found`. */
  codec(modelId: string): TokenCodec;
  /** Creates a run's fresh adapter (A from seed, B zero) and optimizer state. */
  createRun(runId: string, config: RunConfig): Promise<RunState>;
  /** Loads a run from persisted state (server restart, restore). Replaces any live state. */
  loadRun(runId: string, config: RunConfig, state: RunState): Promise<void>;
  /** Frees a run's live state. */
  dropRun(runId: string): Promise<void>;
  forwardBackward(runId: string, batch: Example[], loss?: LossSpec): Promise<ForwardBackwardResult>;
  /** Throws `nothing_accumulated` when no forwardBackward happened since the last step. */
  optimStep(runId: string, options?: OptimStepOptions): Promise<OptimStepResult>;
  trainStep(runId: string, batch: Example[], options?: OptimStepOptions, loss?: LossSpec): Promise<TrainStepResult>;
  /** Per-token log-probabilities of a batch on the sampler's arithmetic; changes nothing. */
  forward(weights: WeightsRef, batch: Example[]): Promise<ForwardResult>;
  zeroGrad(runId: string): Promise<void>;
  /** The run's full state now (for persistence after each acknowledged call). */
  exportState(runId: string): Promise<RunState>;
  /** Registers a frozen adapter (a checkpoint) under `key` for sampling and embeddings. */
  loadAdapter(key: string, config: RunConfig, adapter: Uint8Array): Promise<void>;
  unloadAdapter(key: string): Promise<void>;
  sample(
    weights: WeightsRef,
    prompts: Prompt[],
    params: SampleParams,
    options?: { signal?: AbortSignal; onToken?: (event: TokenEvent) => void; flow?: SampleFlow },
  ): Promise<SampleResult>;
  /** Mean-pooled final hidden states, one vector per input. */
  embeddings(weights: WeightsRef, inputs: string[]): Promise<number[][]>;
  /**
   * The base models whose weights each worker holds, by worker: a checkpoint model is on one
   * worker only, however many runs, adapters and samples use it.
   */
  heldModels(): Promise<string[][]>;
  /** Stops the workers. */
  close(): Promise<void>;
}
