import type { Batch, Checkpoint, ForwardBackwardResult, ForwardResult, Metric, OptimStepResult, RestoreResponse, TrainStepResult, ZeroGradResult } from "../generated/schema.js";
import type { Api } from "./core/api.js";
import { APIPromise } from "./core/api-promise.js";
import { warnDeprecated } from "./core/deprecation.js";
import { createCheckpoint, listCheckpointsPage, restoreCheckpoint, type ListCheckpointsQuery } from "./core/ops-checkpoints.js";
import { forward, forwardBackward, listMetricsPage, optimStep, trainStep, zeroGrad, type ListMetricsQuery } from "./core/ops-training.js";
import type { WithRequestId } from "./core/request-id.js";
import type { RequestOptions } from "./core/request-options.js";
import { inspectSymbol } from "./client-options.js";
import { APIUserAbortError, SignalError } from "./errors.js";
import { PagePromise } from "./pagination.js";
import { createProgress, type ProgressOptions } from "./progress.js";
import { MetricsRecorder, type TrainingMetrics } from "./training-metrics.js";
import type { OptimStepParams, SaveStateParams, TrainBatchParams } from "./types.js";
/** One step of `trainEpoch`, as `onStep` receives it. */
export interface EpochStep {
  /** 1-based position of the batch in this epoch. */
  index: number;
  result: TrainStepResult;
  /** Running mean loss of this epoch so far. */
  avg_loss: number;
}

/** Options of `trainEpoch`. */
export interface TrainEpochOptions extends TrainBatchParams {
  /**
   * Where progress goes (stderr by default). Unset: a bar on a TTY and nothing elsewhere (a log
   * file, CI). `true` or options: the bar on a TTY, a plain line every `every` steps elsewhere.
   * `false`: nothing.
   * @default a bar on a TTY, silent otherwise
   */
  progress?: boolean | ProgressOptions;
  /** Called after every step, e.g. to log to a tracker. An exception stops the epoch. */
  onStep?: (step: EpochStep) => void | Promise<void>;
  /** Stops the epoch between steps and aborts the step in flight (`APIUserAbortError`). */
  signal?: AbortSignal;
  /** Number of batches, for the ETA, when `batches` has no `length`. */
  total?: number;
}

/** What `trainEpoch` resolves to. */
export interface EpochResult {
  /** Mean loss over the epoch's steps; `null` for an empty epoch. */
  avg_loss: number | null;
  steps: number;
  num_tokens: number;
  elapsed_ms: number;
}

/**
 * Training on one run with training defaults: 1 h per attempt, 3 retries, exponential backoff
 * capped at 60 s (it waits out overload rather than failing a run). Calls apply in the order
 * they were made, even when the caller does not await each one: they go through a promise
 * queue, and a failed call rejects its own promise without blocking the ones after it. Every
 * POST carries an Idempotency-Key reused by its retries, so a retried step is applied once.
 *
 * Make one with `client.training(runId)` / `run.training()` (shares the client's pool) or
 * `new AsyncTrainingClient({ runId, apiKey })` (owns its pool). Close with `await t.close()`
 * or `await using t = ...`.
 */
export class TrainingClient {
  /** The run this client trains. */
  readonly runId: string;
  readonly #api: Api;
  readonly #ownsPool: boolean;
  readonly #metrics: MetricsRecorder;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  /** @internal Use `client.training(runId)` or `new AsyncTrainingClient(...)`. */
  constructor(api: Api, runId: string, options: { ownsPool: boolean; initialStep?: number | undefined }) {
    this.#api = api;
    this.runId = runId;
    this.#ownsPool = options.ownsPool;
    this.#metrics = new MetricsRecorder(options.initialStep);
  }

  /**
   * Queues one call: it starts when the calls before it have settled, its result is parsed
   * (and recorded) as soon as it arrives, whether or not the caller awaits it, and a failure
   * rejects its own promise without blocking the calls after it.
   */
  #enqueue<T extends { step: number }>(start: () => APIPromise<T>, record?: (result: T) => void, learnsStep = true): APIPromise<T> {
    if (this.#closed) {
      const error = new SignalError(`TrainingClient for ${this.runId} is closed.`);
      return new APIPromise<T>(Promise.reject(error), () => Promise.reject(error));
    }
    let call: APIPromise<T> | undefined;
    const raw = this.#tail.then(() => {
      call = start();
      return call._raw();
    });
    const parsed = raw.then(async () => {
      const result = await (call as APIPromise<T>);
      // Every training answer carries the run's step: the client learns it from the server.
      if (learnsStep) this.#metrics.recordStep(result.step);
      record?.(result);
      return result;
    });
    this.#tail = parsed.then(noop, noop);
    return new APIPromise<T>(raw, () => parsed);
  }

  /**
   * Computes the loss of `batch` and accumulates its gradient (applied by the next optimStep).
   * @throws ValidationError for a malformed batch (nothing sent); BadRequestError for an example longer than the context.
   */
  forwardBackward(batch: Batch, options?: RequestOptions): APIPromise<ForwardBackwardResult> {
    return this.#enqueue(
      () => forwardBackward(this.#api, this.runId, batch, options),
      (result) => this.#metrics.recordLoss(result.loss, result.grad_norm, result.num_tokens),
    );
  }

  /**
   * Per-token log-probabilities of `batch` and its cross-entropy under the live weights (in call
   * order: after every call made before it) or the checkpoint at `params.step`. Changes nothing.
   * @throws ValidationError for a malformed batch (nothing sent); NotFoundError for a step with no checkpoint.
   */
  forward(batch: Batch, params: { step?: number } = {}, options?: RequestOptions): APIPromise<ForwardResult> {
    // A checkpoint's step is not the run's: only a live-weights answer tells the current step.
    return this.#enqueue(() => forward(this.#api, this.runId, { batch, ...params }, options), undefined, params.step === undefined);
  }

  /**
   * Applies the mean accumulated gradient (AdamW); `learning_rate` / `max_grad_norm` override this step only.
   * @throws ConflictError `nothing_accumulated` when no forwardBackward happened since the last step.
   */
  optimStep(params: OptimStepParams = {}, options?: RequestOptions): APIPromise<OptimStepResult> {
    return this.#enqueue(() => optimStep(this.#api, this.runId, params, options));
  }

  /** Discards the accumulated gradient: the "skip this step" path. */
  zeroGrad(options?: RequestOptions): APIPromise<ZeroGradResult> {
    return this.#enqueue(() => zeroGrad(this.#api, this.runId, options));
  }

  /**
   * forwardBackward + optimStep in ONE round trip (the trainStep operation).
   * @returns `{ step, loss, grad_norm, learning_rate, num_tokens, num_examples }`
   */
  trainBatch(batch: Batch, params: TrainBatchParams = {}, options?: RequestOptions): APIPromise<TrainStepResult> {
    return this.#enqueue(
      () => trainStep(this.#api, this.runId, { ...params, batch }, options),
      (result) => this.#metrics.recordLoss(result.loss, result.grad_norm, result.num_tokens),
    );
  }

  /**
   * One trainBatch per batch of any Iterable or AsyncIterable, with a progress bar (see
   * `TrainEpochOptions.progress`). Stops at the first failed step and rethrows its error.
   * @throws APIUserAbortError when `signal` fires.
   */
  async trainEpoch(batches: Iterable<Batch> | AsyncIterable<Batch>, options: TrainEpochOptions = {}): Promise<EpochResult> {
    const { progress, onStep, signal, total, ...params } = options;
    const known = total ?? lengthOf(batches);
    const reporter = await createProgress(progress, known);
    const started = Date.now();
    let steps = 0;
    let tokens = 0;
    let lossSum = 0;
    try {
      for await (const batch of batches) {
        if (signal?.aborted) throw new APIUserAbortError("trainEpoch was aborted.", { cause: signal.reason });
        const result = await this.trainBatch(batch, params, { signal });
        steps += 1;
        tokens += result.num_tokens;
        lossSum += result.loss;
        const avg = lossSum / steps;
        reporter.update({ steps, step: result.step, loss: result.loss, avg_loss: avg, num_tokens: tokens, elapsed_ms: Date.now() - started });
        await onStep?.({ index: steps, result, avg_loss: avg });
      }
    } finally {
      reporter.stop();
    }
    return { avg_loss: steps === 0 ? null : lossSum / steps, steps, num_tokens: tokens, elapsed_ms: Date.now() - started };
  }

  /** Saves a checkpoint at the current step: `adapter` (LoRA weights) or `state` (with the optimizer). */
  saveCheckpoint(params: SaveStateParams = {}, options?: RequestOptions): APIPromise<Checkpoint> {
    return this.#enqueue(() => createCheckpoint(this.#api, this.runId, params, options));
  }

  /**
   * Loads the checkpoint at `step` into the live run (optimizer too for a `state` checkpoint).
   * @throws NotFoundError listing the steps that have checkpoints.
   */
  restoreCheckpoint(step: number, options?: RequestOptions): APIPromise<RestoreResponse> {
    return this.#enqueue(() => restoreCheckpoint(this.#api, this.runId, step, options));
  }

  /** @deprecated Use `restoreCheckpoint` (the one name of this operation on every client). */
  restore(step: number, options?: RequestOptions): APIPromise<RestoreResponse> {
    warnDeprecated(this.#api.logger, "TrainingClient.restore", "restoreCheckpoint");
    return this.restoreCheckpoint(step, options);
  }

  /**
   * The client-side history of this client's calls (not the server's; see `listMetrics`).
   * `current_step` is the step the server reported with the last answer (`null` before the
   * first, unless the client was made from a `SignalRun`).
   */
  getMetrics(): TrainingMetrics {
    return this.#metrics.snapshot();
  }

  /** The server-side metrics of the run, one per applied step: await for a page, `for await` for all; `after` resumes. */
  listMetrics(query: ListMetricsQuery = {}, options?: RequestOptions): PagePromise<Metric> {
    return new PagePromise((after) => listMetricsPage(this.#api, this.runId, { ...query, after }, options), query.after);
  }

  /** The run's checkpoints by step: await for a page, `for await` for every one; `after` resumes. */
  listCheckpoints(query: ListCheckpointsQuery = {}, options?: RequestOptions): PagePromise<Checkpoint> {
    return new PagePromise((after) => listCheckpointsPage(this.#api, this.runId, { ...query, after }, options), query.after);
  }

  /**
   * Waits for the queued calls to settle, then refuses new ones. A standalone client also
   * closes its pool; one made from a SignalClient leaves the shared pool open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    if (this.#ownsPool) this.#api.pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toJSON(): { runId: string; baseUrl: string } {
    return { runId: this.runId, baseUrl: this.#api.baseUrl };
  }

  [inspectSymbol](): string {
    return `${this.constructor.name} { runId: '${this.runId}', baseUrl: '${this.#api.baseUrl}' }`;
  }
}

function noop(): void {}

function lengthOf(batches: unknown): number | undefined {
  if (Array.isArray(batches)) return batches.length;
  const size = (batches as { size?: unknown; length?: unknown }).length ?? (batches as { size?: unknown }).size;
  return typeof size === "number" ? size : undefined;
}
