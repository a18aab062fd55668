import type {
  TokensExample,
  Checkpoint,
  ForwardBackwardResult,
  ForwardResult,
  Metric,
  OptimStepResult,
  RestoreResponse,
  Run,
  RunDeleted,
  SampleChunk,
  SampleResult,
  TrainStepResult,
  UpdateRunRequest,
  ZeroGradResult,
} from "../generated/schema.js";
import type { ChatMessage, TrainingBatch } from "./chat.js";
import type { APIPromise } from "./core/api-promise.js";
import type { ListCheckpointsQuery, ListMetricsQuery } from "../generated/operations.js";
import { lossAndOptions } from "./internal/loss-and-options.js";
import type { RequestOptions } from "./core/request-options.js";
import type { PagePromise } from "./pagination.js";
import type { InferenceClient, InferenceOptions } from "./inference-client.js";
import type { ChildPolicyOptions, SignalClient } from "./signal-client.js";
import type { Stream } from "./stream.js";
import type { TrainingClient, TrainingOptions } from "./training-client.js";
import type { CustomLossFn, ForwardBackwardCustomResult } from "./custom-loss.js";
import type {
  EmbeddingsParams,
  ForwardBackwardParams,
  ForwardParams,
  OptimStepParams,
  SampleParams,
  SaveStateParams,
  TrainBatchParams,
  WatchRunOptions,
  WatchedRunEvent,
} from "./types.js";

export interface SignalRun extends Run {}

/**
 * A run with its methods: every field of the wire's `Run` (`run_id`, `current_step`, ...) as
 * of the last fetch, plus the simple API's calls bound to this run. `refresh()` re-reads the
 * fields (and the request id). Serialises (`JSON.stringify`) to the plain run.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the class sets every field of Run from the wire (in its constructor and `refresh`).
export class SignalRun {
  readonly #client: SignalClient;

  /** @internal Made by `client.createRun` / `client.getRun`. */
  constructor(client: SignalClient, run: Run) {
    this.#client = client;
    assignFields(this, run);
  }

  /** Loss of `batch` (cross-entropy, or the RL loss `params.loss_fn`); the gradient accumulates until optimStep. */
  forwardBackward(batch: TrainingBatch, params?: ForwardBackwardParams, options?: RequestOptions): APIPromise<ForwardBackwardResult>;
  /** @deprecated Pass the options third: `forwardBackward(batch, {}, options)`. */
  forwardBackward(batch: TrainingBatch, options: RequestOptions): APIPromise<ForwardBackwardResult>;
  forwardBackward(batch: TrainingBatch, second?: ForwardBackwardParams | RequestOptions, third?: RequestOptions): APIPromise<ForwardBackwardResult> {
    const [params, options] = lossAndOptions(second, third);
    return this.#client.forwardBackward(this.run_id, batch, params, options);
  }

  /**
   * A loss computed on the client (see `SignalClient.forwardBackwardCustom`): logprobs by
   * `forward`, `lossFn(logprobs, batch)` → `{ loss, grads }`, one backward of `grads`.
   */
  forwardBackwardCustom(batch: TokensExample[], lossFn: CustomLossFn, options?: RequestOptions): APIPromise<ForwardBackwardCustomResult> {
    return this.#client.forwardBackwardCustom(this.run_id, batch, lossFn, options);
  }

  /** Applies the accumulated gradient. @throws ConflictError `nothing_accumulated` */
  optimStep(params?: OptimStepParams, options?: RequestOptions): APIPromise<OptimStepResult> {
    return this.#client.optimStep(this.run_id, params, options);
  }

  /** forwardBackward + optimStep in one round trip (the trainStep operation). */
  trainBatch(batch: TrainingBatch, params?: TrainBatchParams, options?: RequestOptions): APIPromise<TrainStepResult> {
    return this.#client.trainBatch(this.run_id, batch, params, options);
  }

  /** @deprecated Use `trainBatch` (the one name of this operation on every client). */
  trainStep(batch: TrainingBatch, params?: TrainBatchParams, options?: RequestOptions): APIPromise<TrainStepResult> {
    return this.#client.trainStep(this.run_id, batch, params, options);
  }

  zeroGrad(options?: RequestOptions): APIPromise<ZeroGradResult> {
    return this.#client.zeroGrad(this.run_id, options);
  }

  /** One text per completion; `params.step` picks a checkpoint. `prompts` are texts or conversations (see `SignalClient.sample`). */
  sample(prompts: string[] | ChatMessage[][], params?: SampleParams, options?: RequestOptions): APIPromise<string[]> {
    return this.#client.sample(this.run_id, prompts, params, options);
  }

  /** The full wire response of `sample`. */
  sampleDetailed(prompts: string[] | ChatMessage[][], params?: SampleParams, options?: RequestOptions): APIPromise<SampleResult> {
    return this.#client.sampleDetailed(this.run_id, prompts, params, options);
  }

  /** Streams the completion of one prompt (a text or a conversation) as it is generated. */
  streamSample(prompt: string | ChatMessage[], params?: SampleParams, options?: RequestOptions): Stream<SampleChunk> {
    return this.#client.streamSample(this.run_id, prompt, params, options);
  }

  /** This run's live events; see `SignalClient.watchRun`. */
  watch(options?: WatchRunOptions): Stream<WatchedRunEvent> {
    return this.#client.watchRun(this.run_id, options);
  }

  /**
   * Per-token log-probabilities of `batch` (position 0 null) and its cross-entropy, under the live
   * weights or the checkpoint at `params.step`; changes nothing. See `SignalClient.forward`.
   */
  forward(batch: TrainingBatch, params: ForwardParams = {}, options?: RequestOptions): APIPromise<ForwardResult> {
    return this.#client.forward(this.run_id, batch, params, options);
  }

  /** One vector per input; `params.step` picks a checkpoint. */
  embeddings(inputs: string[], params?: EmbeddingsParams, options?: RequestOptions): APIPromise<number[][]> {
    return this.#client.embeddings(this.run_id, inputs, params, options);
  }

  /** Saves a checkpoint at the current step. */
  saveState(params?: SaveStateParams, options?: RequestOptions): APIPromise<Checkpoint> {
    return this.#client.saveState(this.run_id, params, options);
  }

  /** The run's checkpoints by step: `await` for a page, `for await` for every one; `after` resumes. */
  listCheckpoints(query: ListCheckpointsQuery = {}, options?: RequestOptions): PagePromise<Checkpoint> {
    return this.#client.listCheckpoints(this.run_id, query, options);
  }

  /** The server-side metrics, one per applied step. */
  listMetrics(query: ListMetricsQuery = {}, options?: RequestOptions): PagePromise<Metric> {
    return this.#client.listMetrics(this.run_id, query, options);
  }

  getCheckpoint(step: number, options?: RequestOptions): APIPromise<Checkpoint> {
    return this.#client.getCheckpoint(this.run_id, step, options);
  }

  downloadCheckpoint(step: number, options?: RequestOptions): APIPromise<Uint8Array> {
    return this.#client.downloadCheckpoint(this.run_id, step, options);
  }

  /** Loads the checkpoint at `step` into the live run. */
  restoreCheckpoint(step: number, options?: RequestOptions): APIPromise<RestoreResponse> {
    return this.#client.restoreCheckpoint(this.run_id, step, options);
  }

  /** Sets how long the checkpoint at `step` lives: `seconds` from now, or forever (`null`). */
  setCheckpointTtl(step: number, seconds: number | null, options?: RequestOptions): APIPromise<Checkpoint> {
    return this.#client.setCheckpointTtl(this.run_id, step, seconds, options);
  }

  /** Loads a PEFT `adapter_model.safetensors` into this run, which must be fresh; see `SignalClient.importAdapter`. */
  importAdapter(bytes: Uint8Array, options?: RequestOptions): APIPromise<Run> {
    return this.#client.importAdapter(this.run_id, bytes, options);
  }

  /** @deprecated Use `restoreCheckpoint` (the one name of this operation on every client). */
  restore(step: number, options?: RequestOptions): APIPromise<RestoreResponse> {
    this.#client._warnDeprecated("SignalRun.restore", "restoreCheckpoint");
    return this.restoreCheckpoint(step, options);
  }

  /** A TrainingClient for this run on the client's pool (training policy unless overridden). */
  training(options: ChildPolicyOptions & TrainingOptions = {}): TrainingClient {
    return this.#client.training(this.run_id, { ...options, initialStep: this.current_step });
  }

  /** An InferenceClient for this run on the client's pool. */
  inference(options: ChildPolicyOptions & InferenceOptions = {}): InferenceClient {
    return this.#client.inference(this.run_id, options);
  }

  /** Re-reads the run (e.g. `current_step`) into this object, with the new request id, and returns it. */
  refresh(options?: RequestOptions): APIPromise<this> {
    return this.#client.getRun(this.run_id, options)._thenUnwrap((latest) => {
      assignFields(this, latest.toJSON());
      return this;
    });
  }

  /** @deprecated Use `refresh`. */
  get(options?: RequestOptions): APIPromise<this> {
    this.#client._warnDeprecated("SignalRun.get", "refresh");
    return this.refresh(options);
  }

  /**
   * Renames or relabels the run (`name`, `null` to remove it; `metadata`, replacing the whole
   * map) and updates this object's fields; returns it.
   */
  update(params: UpdateRunRequest, options?: RequestOptions): APIPromise<this> {
    return this.#client.updateRun(this.run_id, params, options)._thenUnwrap((latest) => {
      assignFields(this, latest.toJSON());
      return this;
    });
  }

  /** Deletes the run and its checkpoints. */
  delete(options?: RequestOptions): APIPromise<RunDeleted> {
    return this.#client.deleteRun(this.run_id, options);
  }

  /** The plain run, as on the wire. */
  toJSON(): Run {
    return { ...this };
  }
}

/** Copies the run's fields, skipping any a newer server might add under a method's name. */
function assignFields(target: SignalRun, run: Run): void {
  const fields = target as unknown as Record<string, unknown>;
  const source = run as unknown as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    if (!(key in SignalRun.prototype)) fields[key] = source[key];
  }
}
