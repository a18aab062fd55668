import type {
  TokensExample,
  Checkpoint,
  CheckpointDeleted,
  CreateRunRequest,
  DetokenizeResult,
  ForwardBackwardResult,
  ForwardResult,
  Health,
  Metric,
  ModelList,
  OptimStepResult,
  RestoreResponse,
  Run,
  RunDeleted,
  SampleChunk,
  SampleResult,
  TokenizeRequest,
  TokenizeResult,
  TrainStepResult,
  UpdateRunRequest,
  ZeroGradResult,
} from "../generated/schema.js";
import { type ChatMessage, type TokenizeMessages, type TrainingBatch, isConversations } from "./chat.js";
import type { Api } from "./internal/api.js";
import { APIPromise } from "./core/api-promise.js";
import { ValidationError } from "./errors.js";
import { checkPolicyOptions } from "./internal/check-options.js";
import { warnDeprecated } from "./internal/deprecation.js";
import { resolveLogger } from "./internal/logger.js";
import type { ListCheckpointsQuery, ListMetricsQuery, ListRunsQuery } from "../generated/operations.js";
import { callOperation } from "./internal/call-operation.js";
import { lossAndOptions } from "./internal/loss-and-options.js";
import { textsOf, vectorsOf } from "./internal/results.js";
import { sampleStream } from "./internal/sample-stream.js";
import { watchRunStream } from "./internal/run-watch.js";
import { type Backoff, inferencePolicy, simplePolicy, trainingPolicy, withOverrides } from "./core/policy.js";
import { checkBaseUrl } from "./internal/check-options.js";
import { checkBrowserKey } from "./internal/browser-guard.js";
import type { RequestOptions } from "./core/request-options.js";
import { checkClientOptions, inspectSymbol, openApi, type ClientOptions } from "./client-options.js";
import { InferenceClient, type InferenceOptions } from "./inference-client.js";
import { PagePromise } from "./pagination.js";
import { SignalRun } from "./signal-run.js";
import type { Stream } from "./stream.js";
import { TrainingClient, type TrainingOptions } from "./training-client.js";
import { toBase64 } from "./internal/base64.js";
import { type CustomLossFn, customLossCall, type ForwardBackwardCustomResult } from "./custom-loss.js";
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
    this.#api = adopting ?? openApi(options, simplePolicy);
    this.baseUrl = this.#api.baseUrl;
  }

  /** @internal A client over an existing connection (`withOptions`). */
  static _fromApi(api: Api): SignalClient {
    adopting = api;
    try {
      return new SignalClient();
    } finally {
      adopting = undefined;
    }
  }

  /** The API key, for building a standalone client with the same credentials. Not enumerable, never inspected. */
  get apiKey(): string {
    return this.#api.apiKey;
  }

  /**
   * A copy of this client with some options replaced (timeout, maxRetries, backoff,
   * defaultHeaders, fetchOptions, logLevel, logger, apiKey, baseUrl, strictResponseValidation), on the SAME pool: closing
   * either closes both. The options are checked like the constructor's.
   * @example
   * const patient = client.withOptions({ timeout: 600_000, maxRetries: 5 });
   */
  withOptions(overrides: Omit<ClientOptions, "fetch">): SignalClient {
    checkClientOptions(overrides);
    const api = this.#api;
    const logger = overrides.logger !== undefined || overrides.logLevel !== undefined ? resolveLogger(overrides.logger, overrides.logLevel) : api.logger;
    return SignalClient._fromApi(
      api.with({
        policy: withOverrides(api.policy, overrides),
        logger,
        ...(overrides.apiKey !== undefined ? { apiKey: overrides.apiKey } : {}),
        ...(overrides.baseUrl !== undefined ? { baseUrl: checkedBaseUrl(overrides.baseUrl, overrides.dangerouslyAllowBrowser) } : {}),
        ...(overrides.defaultHeaders !== undefined ? { defaultHeaders: { ...api.defaultHeaders, ...overrides.defaultHeaders } } : {}),
        ...(overrides.fetchOptions !== undefined ? { fetchOptions: { ...api.fetchOptions, ...overrides.fetchOptions } } : {}),
        ...(overrides.strictResponseValidation !== undefined ? { strictResponseValidation: overrides.strictResponseValidation } : {}),
      }),
    );
  }

  /** @internal One warning per process for a deprecated name, through this client's logger. */
  _warnDeprecated(name: string, replacement: string): void {
    warnDeprecated(this.#api.logger, name, replacement);
  }

  /** Liveness and version; needs no key. */
  getHealth(options?: RequestOptions): APIPromise<Health> {
    return callOperation(this.#api, "getHealth", {}, options);
  }

  /** The base models runs can be created on, the default first. */
  listModels(options?: RequestOptions): APIPromise<ModelList> {
    return callOperation(this.#api, "listModels", {}, options);
  }

  /**
   * Creates a LoRA run. Fields omitted take the server defaults (lora_r 8, lora_alpha 16, learning_rate 5e-4, seed 0).
   * With `from_checkpoint: { run_id, step }` the run starts from one of this key's checkpoints
   * instead: its adapter (and optimizer, for a `state` one) at its step, its base model and LoRA
   * shape; its `forward` equals the source's at that checkpoint.
   * @throws ValidationError for a bad field (nothing sent); NotFoundError `model_not_found` listing the models,
   *   or naming `from_checkpoint.run_id` / `from_checkpoint.step` (`checkpoint_expired` for an expired one);
   *   BadRequestError naming a field given with another value than the source run's;
   *   ValidationError naming `base_model` (nothing sent) when neither it nor `from_checkpoint` is given.
   */
  createRun(params: CreateRunRequest, options?: RequestOptions): APIPromise<SignalRun> {
    if (typeof params === "object" && params !== null && params.base_model === undefined && params.from_checkpoint === undefined) {
      const message = "required unless from_checkpoint is given";
      return APIPromise._rejected(new ValidationError(`createRun: base_model: ${message}`, [{ path: "base_model", message }]));
    }
    return callOperation(this.#api, "createRun", { body: params }, options)._thenUnwrap((run) => new SignalRun(this, run));
  }

  /** The run with its `current_step`. @throws NotFoundError */
  getRun(runId: string, options?: RequestOptions): APIPromise<SignalRun> {
    return callOperation(this.#api, "getRun", { path: { run_id: runId } }, options)._thenUnwrap((run) => new SignalRun(this, run));
  }

  /**
   * Renames or relabels a run: `name` (`null` removes it) and/or `metadata` (replaces the whole
   * map, at most 16 string values); a field left out stays as it is.
   * @example
   * await client.updateRun(run.run_id, { name: "support-bot-v2", metadata: { stage: "eval" } });
   * @throws ValidationError for a bad field (nothing sent); NotFoundError for an unknown run.
   */
  updateRun(runId: string, params: UpdateRunRequest, options?: RequestOptions): APIPromise<SignalRun> {
    return callOperation(this.#api, "updateRun", { path: { run_id: runId }, body: params }, options)._thenUnwrap((run) => new SignalRun(this, run));
  }

  /**
   * Runs, newest first: `await` for the first page (a `Page`), `for await` for every run of
   * every page. `base_model` and `name` keep only the runs with exactly that base model or
   * name. `after` resumes after a saved `next_cursor`.
   * @example
   * for await (const run of client.listRuns({ base_model: "signal-byte-base", name: "support-bot-v1" })) console.log(run.run_id);
   */
  listRuns(query: ListRunsQuery = {}, options?: RequestOptions): PagePromise<Run> {
    const api = this.#api;
    return new PagePromise((after) => callOperation(api, "listRuns", { query: { ...query, after } }, options), query.after);
  }

  /** Removes the run and all its checkpoints. @throws NotFoundError */
  deleteRun(runId: string, options?: RequestOptions): APIPromise<RunDeleted> {
    return callOperation(this.#api, "deleteRun", { path: { run_id: runId } }, options);
  }

  /**
   * Loss of `batch` (cross-entropy, or the RL loss `params.loss_fn`); the gradient accumulates
   * until optimStep.
   * @throws ValidationError for a malformed batch (nothing sent); BadRequestError naming the field for an RL loss without `logprobs` / `advantages`.
   */
  forwardBackward(runId: string, batch: TrainingBatch, params?: ForwardBackwardParams, options?: RequestOptions): APIPromise<ForwardBackwardResult>;
  /** @deprecated Pass the options third: `forwardBackward(runId, batch, {}, options)`. */
  forwardBackward(runId: string, batch: TrainingBatch, options: RequestOptions): APIPromise<ForwardBackwardResult>;
  forwardBackward(
    runId: string,
    batch: TrainingBatch,
    second?: ForwardBackwardParams | RequestOptions,
    third?: RequestOptions,
  ): APIPromise<ForwardBackwardResult> {
    const [params, options] = lossAndOptions(second, third);
    return callOperation(this.#api, "forwardBackward", { path: { run_id: runId }, body: { ...params, batch } }, options);
  }

  /**
   * A loss computed on the client: `forward` for the logprobs of `batch`, then
   * `lossFn(logprobs, batch)` for `{ loss, grads }` (`grads[e][i]` = ∂loss/∂`logprobs[e][i]`),
   * then one backward of that gradient (the `linear` loss, `advantages = -grads`) into the
   * accumulator. Resolves to the backward's result with the custom `loss` and the `logprobs`.
   * The two calls are not ordered against other calls on the run (a `TrainingClient` orders them).
   * @throws ValidationError for a batch of other than `{tokens}` examples, or a return value of
   *   the wrong shape (naming the field, e.g. `grads[0][3]`), before the backward is sent.
   */
  forwardBackwardCustom(runId: string, batch: TokensExample[], lossFn: CustomLossFn, options?: RequestOptions): APIPromise<ForwardBackwardCustomResult> {
    return customLossCall(this.#api, runId, batch, lossFn, options, options);
  }

  /**
   * Per-token log-probabilities of `batch` (`logprobs[example][position]`, position 0 `null`)
   * and its cross-entropy, under the live weights or the checkpoint at `params.step`. Changes
   * nothing: no gradient accumulates and the step stays.
   * @throws ValidationError for a malformed batch (nothing sent); NotFoundError for a step with no checkpoint.
   */
  forward(runId: string, batch: TrainingBatch, params: ForwardParams = {}, options?: RequestOptions): APIPromise<ForwardResult> {
    return callOperation(this.#api, "forward", { path: { run_id: runId }, body: { batch, ...params } }, options);
  }

  /**
   * The token ids `model` gives `text` (BOS first with `add_bos: true`), to build token batches
   * and prompts; or, given `{ messages, add_generation_prompt?, chat_template_kwargs? }`, the
   * conversation rendered with the model's chat template (`text` in the result) and its ids.
   * @throws BadRequestError naming the field for a bad conversation, or quoting the template's error.
   */
  tokenize(
    model: string,
    input: string | TokenizeMessages,
    params: Omit<TokenizeRequest, "text" | "messages"> = {},
    options?: RequestOptions,
  ): APIPromise<TokenizeResult> {
    const body = typeof input === "string" ? { text: input, ...params } : { ...params, ...input };
    return callOperation(this.#api, "tokenize", { path: { model_id: model }, body }, options);
  }

  /** The text of `tokens` under `model`'s tokenizer (special tokens skipped). */
  detokenize(model: string, tokens: number[], options?: RequestOptions): APIPromise<DetokenizeResult> {
    return callOperation(this.#api, "detokenize", { path: { model_id: model }, body: { tokens } }, options);
  }

  /** Applies the accumulated gradient. @throws ConflictError `nothing_accumulated` */
  optimStep(runId: string, params: OptimStepParams = {}, options?: RequestOptions): APIPromise<OptimStepResult> {
    return callOperation(this.#api, "optimStep", { path: { run_id: runId }, body: params }, options);
  }

  /** forwardBackward + optimStep in one round trip (the trainStep operation). */
  trainBatch(runId: string, batch: TrainingBatch, params: TrainBatchParams = {}, options?: RequestOptions): APIPromise<TrainStepResult> {
    return callOperation(this.#api, "trainStep", { path: { run_id: runId }, body: { ...params, batch } }, options);
  }

  /** @deprecated Use `trainBatch` (the one name of this operation on every client). */
  trainStep(runId: string, batch: TrainingBatch, params: TrainBatchParams = {}, options?: RequestOptions): APIPromise<TrainStepResult> {
    warnDeprecated(this.#api.logger, "SignalClient.trainStep", "trainBatch");
    return this.trainBatch(runId, batch, params, options);
  }

  /** Discards the accumulated gradient. */
  zeroGrad(runId: string, options?: RequestOptions): APIPromise<ZeroGradResult> {
    return callOperation(this.#api, "zeroGrad", { path: { run_id: runId } }, options);
  }

  /** The server-side metrics, one per applied step: `await` for a page, `for await` for all; `after` resumes. */
  listMetrics(runId: string, query: ListMetricsQuery = {}, options?: RequestOptions): PagePromise<Metric> {
    const api = this.#api;
    return new PagePromise((after) => callOperation(api, "listMetrics", { path: { run_id: runId }, query: { ...query, after } }, options), query.after);
  }

  /**
   * One text per completion (`prompt_index * n + sample` order). `params.step` picks a checkpoint.
   * `prompts` are texts, or conversations (lists of messages) rendered with the model's chat
   * template and a generation prompt, whose answers end at the template's end of turn.
   * @throws ValidationError for bad parameters; BadRequestError when a prompt plus max_tokens exceeds the context, or naming the field of a bad conversation.
   */
  sample(runId: string, prompts: string[] | ChatMessage[][], params: SampleParams = {}, options?: RequestOptions): APIPromise<string[]> {
    return this.sampleDetailed(runId, prompts, params, options)._thenUnwrap(textsOf);
  }

  /** The full wire response of `sample` (`samples` with `prompt_index`, `finish_reason`, logprobs, `usage`). */
  sampleDetailed(runId: string, prompts: string[] | ChatMessage[][], params: SampleParams = {}, options?: RequestOptions): APIPromise<SampleResult> {
    const body = isConversations(prompts) ? { ...params, messages: prompts, stream: false } : { ...params, prompts, stream: false };
    return callOperation(this.#api, "sample", { path: { run_id: runId }, body }, options);
  }

  /** Streams the completion of one prompt (a text or a conversation) as it is generated (see `Stream`). */
  streamSample(runId: string, prompt: string | ChatMessage[], params: SampleParams = {}, options?: RequestOptions): Stream<SampleChunk> {
    return sampleStream(this.#api, runId, typeof prompt === "string" ? { ...params, prompts: [prompt] } : { ...params, messages: [prompt] }, options);
  }

  /**
   * The run's live events (the watchRun operation): `step.applied` with each step's metric row,
   * `checkpoint.saved`, `checkpoint.deleted`, `run.updated` (first, with the run as it is now) and
   * `run.deleted` (last). Reconnects by itself after a dropped connection or a server restart,
   * resuming after the last event read (`Last-Event-ID`); a `run.updated` with `resync: true`
   * says events were missed and what the caller shows should be re-read. Runs until
   * `options.signal` aborts it (`APIUserAbortError`), the loop is left, or the run is deleted.
   *
   * @example
   * for await (const event of client.watchRun(runId, { signal })) {
   *   if (event.type === "step.applied") console.log(event.step, event.metric?.loss);
   * }
   * @throws NotFoundError for a run of another key or none; AuthenticationError for a bad key.
   */
  watchRun(runId: string, options: WatchRunOptions = {}): Stream<WatchedRunEvent> {
    return watchRunStream(this.#api, runId, options);
  }

  /** One vector per input, in input order; `params.step` picks a checkpoint. */
  embeddings(runId: string, inputs: string[], params: EmbeddingsParams = {}, options?: RequestOptions): APIPromise<number[][]> {
    const body = params.step === undefined ? { inputs } : { inputs, step: params.step };
    return callOperation(this.#api, "createEmbeddings", { path: { run_id: runId }, body }, options)._thenUnwrap(vectorsOf);
  }

  /** Saves a checkpoint at the current step (`mode` adapter or state). */
  saveState(runId: string, params: SaveStateParams = {}, options?: RequestOptions): APIPromise<Checkpoint> {
    return callOperation(this.#api, "createCheckpoint", { path: { run_id: runId }, body: params }, options);
  }

  /** The run's checkpoints by step: `await` for a page, `for await` for every one; `after` resumes. */
  listCheckpoints(runId: string, query: ListCheckpointsQuery = {}, options?: RequestOptions): PagePromise<Checkpoint> {
    const api = this.#api;
    return new PagePromise((after) => callOperation(api, "listCheckpoints", { path: { run_id: runId }, query: { ...query, after } }, options), query.after);
  }

  /** One checkpoint. @throws NotFoundError listing the steps that exist */
  getCheckpoint(runId: string, step: number, options?: RequestOptions): APIPromise<Checkpoint> {
    return callOperation(this.#api, "getCheckpoint", { path: { run_id: runId, step } }, options);
  }

  deleteCheckpoint(runId: string, step: number, options?: RequestOptions): APIPromise<CheckpointDeleted> {
    return callOperation(this.#api, "deleteCheckpoint", { path: { run_id: runId, step } }, options);
  }

  /** Loads a checkpoint into the live run. */
  restoreCheckpoint(runId: string, step: number, options?: RequestOptions): APIPromise<RestoreResponse> {
    return callOperation(this.#api, "restoreCheckpoint", { path: { run_id: runId }, body: { step } }, options);
  }

  /**
   * Sets how long the checkpoint at `step` lives: `seconds` from now, or forever (`null`).
   * Returns the checkpoint with its new `expires_at`.
   * @throws NotFoundError listing the steps that exist, or `checkpoint_expired` for one already gone.
   */
  setCheckpointTtl(runId: string, step: number, seconds: number | null, options?: RequestOptions): APIPromise<Checkpoint> {
    return callOperation(this.#api, "setCheckpointTtl", { path: { run_id: runId, step }, body: { ttl_seconds: seconds } }, options);
  }

  /**
   * Loads a PEFT `adapter_model.safetensors` (F32; what `downloadCheckpoint` gives) into a fresh
   * run (step 0, nothing accumulated) whose `lora_r` and `target_modules` match it; create the
   * run with the adapter's `lora_alpha`. The file travels base64-encoded in JSON, so the server's
   * body limit bounds it (the local server: about 6 MiB of safetensors).
   * @throws BadRequestError `invalid_adapter` naming the first tensor that is missing, extra or
   *   misshapen; `invalid_request` for a run past step 0.
   */
  importAdapter(runId: string, bytes: Uint8Array, options?: RequestOptions): APIPromise<Run> {
    return callOperation(this.#api, "importAdapter", { path: { run_id: runId }, body: { adapter: toBase64(bytes) } }, options);
  }

  /** The adapter at `step` as `adapter_model.safetensors` bytes (PEFT names). */
  downloadCheckpoint(runId: string, step: number, options?: RequestOptions): APIPromise<Uint8Array> {
    return callOperation(this.#api, "downloadCheckpoint", { path: { run_id: runId, step } }, options);
  }

  /**
   * A TrainingClient on this client's pool, with the training policy (1 h, 3 retries,
   * backoff capped at 60 s) unless overridden. Closing it leaves this client open.
   * @throws SignalError for a bad `timeout` / `maxRetries` / `backoff`.
   */
  training(runId: string, options: ChildPolicyOptions & TrainingOptions & { initialStep?: number | undefined } = {}): TrainingClient {
    checkPolicyOptions(options);
    const api = this.#api.withPolicy(withOverrides(trainingPolicy, options));
    return new TrainingClient(api, runId, { ownsPool: false, initialStep: options.initialStep, maxInFlight: options.maxInFlight });
  }

  /**
   * An InferenceClient on this client's pool, with the inference policy (30 s, 2 immediate
   * retries) unless overridden. `step` pins a checkpoint (needed for the cache).
   * @throws SignalError for a bad `timeout` / `maxRetries` / `batchSize` / `concurrency`.
   */
  inference(runId: string, options: ChildPolicyOptions & InferenceOptions = {}): InferenceClient {
    checkPolicyOptions(options);
    const api = this.#api.withPolicy(withOverrides(inferencePolicy, options));
    return new InferenceClient(api, runId, { ...options, ownsPool: false });
  }

  /**
   * Closes the shared pool: every call of this client and of the clients made from it (or
   * with `withOptions`) that is in flight, waiting to retry or queued settles at once with
   * APIConnectionError, and new calls are refused.
   */
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

/** Set only while `_fromApi` constructs a client over an existing connection. */
let adopting: Api | undefined;

/** A new `baseUrl` of `withOptions`, checked like the constructor's (in a browser, `dangerouslyAllowBrowser` is asked for again). */
function checkedBaseUrl(baseUrl: string, dangerouslyAllowBrowser: boolean | undefined): string {
  const checked = checkBaseUrl(baseUrl, "baseUrl");
  checkBrowserKey(checked, dangerouslyAllowBrowser);
  return checked;
}
