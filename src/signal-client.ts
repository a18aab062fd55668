import type {
  Batch,
  Checkpoint,
  CheckpointDeleted,
  CheckpointList,
  CreateRunRequest,
  ForwardBackwardResult,
  Health,
  Metric,
  MetricList,
  ModelList,
  OptimStepResult,
  RestoreResponse,
  Run,
  RunDeleted,
  RunList,
  TrainStepResult,
  ZeroGradResult,
} from "../generated/schema.js";
import type { Api } from "./core/api.js";
import { createCheckpoint, deleteCheckpoint, downloadCheckpoint, getCheckpoint, listCheckpointsPage, restoreCheckpoint } from "./core/ops-checkpoints.js";
import { sample } from "./core/ops-inference.js";
import { createRun, deleteRun, getHealth, getRun, listModels, listRunsPage, type ListRunsQuery } from "./core/ops-runs.js";
import { forwardBackward, listMetricsPage, optimStep, trainStep, zeroGrad } from "./core/ops-training.js";
import { type Backoff, inferencePolicy, simplePolicy, trainingPolicy, withOverrides } from "./core/policy.js";
import { attachRequestId, type WithRequestId } from "./core/request-id.js";
import type { RequestOptions } from "./core/transport.js";
import { inspectSymbol, openApi, type ClientOptions } from "./client-options.js";
import { InferenceClient, type InferenceOptions } from "./inference-client.js";
import { PagePromise } from "./pagination.js";
import { SignalRun } from "./signal-run.js";
import { TrainingClient } from "./training-client.js";
import type { OptimStepParams, SampleParams, SaveStateParams, TrainBatchParams } from "./types.js";

/** Per-client overrides of `training()` / `inference()`. */
export interface ChildPolicyOptions {
  /** Timeout of each attempt in ms. @default 1 h for training, 30 s for inference */
  timeout?: number | undefined;
  /** @default 3 for training, 2 for inference */
  maxRetries?: number | undefined;
  /**
   * Replaces fields of the client kind's backoff, e.g. `{ initialDelay: 100, maxDelay: 2_000 }`.
   * `Retry-After` from the server still wins. @default the client kind's policy
   */
  backoff?: Partial<Backoff> | undefined;
}

/**
 * The simple API: every operation from one client, with the simple policy (60 s per attempt,
 * 2 retries, exponential backoff 0.5 s·2ⁿ capped at 8 s with jitter, `Retry-After` first).
 * `training()` and `inference()` make specialised clients that share this client's pool.
 *
 * @example
 * const client = new SignalClient(); // SIGNAL_API_KEY, SIGNAL_BASE_URL
 * const run = await client.createRun({ base_model: "signal-byte-base" });
 * await run.forwardBackward([{ prompt: "Q: 2+2?\nA:", completion: " 4" }]);
 * await run.optimStep();
 *
 * @throws SignalError from the constructor when there is no API key.
 */
export class SignalClient {
  /** The service URL requests go to. */
  readonly baseUrl: string;
  readonly #api: Api;

  constructor(options: ClientOptions = {}) {
    this.#api = openApi(options, simplePolicy);
    this.baseUrl = this.#api.baseUrl;
  }

  /** The API key, for building a standalone client with the same credentials. Not enumerable, never inspected. */
  get apiKey(): string {
    return this.#api.apiKey;
  }

  /** Liveness and version; needs no key. */
  getHealth(options?: RequestOptions): Promise<WithRequestId<Health>> {
    return getHealth(this.#api, options);
  }

  /** The base models runs can be created on, the default first. */
  listModels(options?: RequestOptions): Promise<WithRequestId<ModelList>> {
    return listModels(this.#api, options);
  }

  /**
   * Creates a LoRA run. Fields omitted take the server defaults (lora_r 8, lora_alpha 16, learning_rate 5e-4, seed 0).
   * @throws ValidationError for a bad field (nothing sent); NotFoundError `model_not_found` listing the models.
   */
  async createRun(params: CreateRunRequest, options?: RequestOptions): Promise<WithRequestId<SignalRun>> {
    const run = await createRun(this.#api, params, options);
    return attachRequestId(new SignalRun(this, run), run._request_id);
  }

  /** The run with its `current_step`. @throws NotFoundError */
  async getRun(runId: string, options?: RequestOptions): Promise<WithRequestId<SignalRun>> {
    const run = await getRun(this.#api, runId, options);
    return attachRequestId(new SignalRun(this, run), run._request_id);
  }

  /** Runs, newest first: `await` for the first page, `for await` for every run of every page. */
  listRuns(query: Omit<ListRunsQuery, "after"> = {}, options?: RequestOptions): PagePromise<RunList, Run> {
    return new PagePromise((after) => listRunsPage(this.#api, after === undefined ? query : { ...query, after }, options));
  }

  /** Removes the run and all its checkpoints. @throws NotFoundError */
  deleteRun(runId: string, options?: RequestOptions): Promise<WithRequestId<RunDeleted>> {
    return deleteRun(this.#api, runId, options);
  }

  /** Loss of `batch`; the gradient accumulates until optimStep. */
  forwardBackward(runId: string, batch: Batch, options?: RequestOptions): Promise<WithRequestId<ForwardBackwardResult>> {
    return forwardBackward(this.#api, runId, batch, options);
  }

  /** Applies the accumulated gradient. @throws ConflictError `nothing_accumulated` */
  optimStep(runId: string, params: OptimStepParams = {}, options?: RequestOptions): Promise<WithRequestId<OptimStepResult>> {
    return optimStep(this.#api, runId, params, options);
  }

  /** forwardBackward + optimStep in one round trip. */
  trainStep(runId: string, batch: Batch, params: TrainBatchParams = {}, options?: RequestOptions): Promise<WithRequestId<TrainStepResult>> {
    return trainStep(this.#api, runId, { ...params, batch }, options);
  }

  /** Discards the accumulated gradient. */
  zeroGrad(runId: string, options?: RequestOptions): Promise<WithRequestId<ZeroGradResult>> {
    return zeroGrad(this.#api, runId, options);
  }

  /** The server-side metrics, one per applied step: `await` for a page, `for await` for all. */
  listMetrics(runId: string, query: { limit?: number } = {}, options?: RequestOptions): PagePromise<MetricList, Metric> {
    return new PagePromise((after) => listMetricsPage(this.#api, runId, after === undefined ? query : { ...query, after }, options));
  }

  /**
   * One text per completion (`prompt_index * n + sample` order). `params.step` picks a checkpoint.
   * @throws ValidationError for bad parameters; BadRequestError when a prompt plus max_tokens exceeds the context.
   */
  async sample(runId: string, prompts: string[], params: SampleParams = {}, options?: RequestOptions): Promise<WithRequestId<string[]>> {
    const result = await sample(this.#api, runId, { ...params, prompts }, options);
    const texts = [...result.samples].sort((a, b) => a.index - b.index).map((s) => s.text);
    return attachRequestId(texts, result._request_id);
  }

  /** Saves a checkpoint at the current step (`mode` adapter or state). */
  saveState(runId: string, params: SaveStateParams = {}, options?: RequestOptions): Promise<WithRequestId<Checkpoint>> {
    return createCheckpoint(this.#api, runId, params, options);
  }

  /** The run's checkpoints by step: `await` for a page, `for await` for every one. */
  listCheckpoints(runId: string, query: { limit?: number } = {}, options?: RequestOptions): PagePromise<CheckpointList, Checkpoint> {
    return new PagePromise((after) => listCheckpointsPage(this.#api, runId, after === undefined ? query : { ...query, after }, options));
  }

  /** One checkpoint. @throws NotFoundError listing the steps that exist */
  getCheckpoint(runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<Checkpoint>> {
    return getCheckpoint(this.#api, runId, step, options);
  }

  deleteCheckpoint(runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<CheckpointDeleted>> {
    return deleteCheckpoint(this.#api, runId, step, options);
  }

  /** Loads a checkpoint into the live run. */
  restoreCheckpoint(runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<RestoreResponse>> {
    return restoreCheckpoint(this.#api, runId, step, options);
  }

  /** The adapter at `step` as `adapter_model.safetensors` bytes (PEFT names). */
  downloadCheckpoint(runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<Uint8Array>> {
    return downloadCheckpoint(this.#api, runId, step, options);
  }

  /**
   * A TrainingClient on this client's pool, with the training policy (1 h, 3 retries,
   * backoff capped at 60 s) unless overridden. Closing it leaves this client open.
   */
  training(runId: string, options: ChildPolicyOptions & { initialStep?: number | undefined } = {}): TrainingClient {
    const api = this.#api.withPolicy(withOverrides(trainingPolicy, options));
    return new TrainingClient(api, runId, { ownsPool: false, initialStep: options.initialStep });
  }

  /**
   * An InferenceClient on this client's pool, with the inference policy (30 s, 2 immediate
   * retries) unless overridden. `step` pins a checkpoint (needed for the cache).
   */
  inference(runId: string, options: ChildPolicyOptions & InferenceOptions = {}): InferenceClient {
    const api = this.#api.withPolicy(withOverrides(inferencePolicy, options));
    return new InferenceClient(api, runId, { ...options, ownsPool: false });
  }

  /** Aborts every request in flight on the shared pool (children's too) and refuses new ones. */
  async close(): Promise<void> {
    this.#api.pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toJSON(): { baseUrl: string } {
    return { baseUrl: this.baseUrl };
  }

  [inspectSymbol](): string {
    return `SignalClient { baseUrl: '${this.baseUrl}' }`;
  }
}
