import type {
  TokensExample,
  Checkpoint,
  ForwardBackwardResult,
  ForwardResult,
  Metric,
  OptimStepResult,
  RestoreResponse,
  TrainStepResult,
  ZeroGradResult,
} from "../generated/schema.js";
import type { TrainingBatch } from "./chat.js";
import type { Api } from "./internal/api.js";
import { APIPromise, type RawCall } from "./core/api-promise.js";
import { checkInteger } from "./internal/check-options.js";
import { warnDeprecated } from "./internal/deprecation.js";
import type { ListCheckpointsQuery, ListMetricsQuery } from "../generated/operations.js";
import { callOperation } from "./internal/call-operation.js";
import { lossAndOptions } from "./internal/loss-and-options.js";
import { randomUUID } from "./internal/random-id.js";
import type { CallOptions, RequestOptions } from "./core/request-options.js";
import { inspectSymbol } from "./client-options.js";
import { APIError, APIUserAbortError, SequenceBrokenError, SignalError } from "./errors.js";
import { PagePromise } from "./pagination.js";
import { createProgress, type ProgressOptions } from "./progress.js";
import { MetricsRecorder, type TrainingMetrics } from "./training-metrics.js";
import { type CustomLossFn, customLossCall, type ForwardBackwardCustomResult } from "./custom-loss.js";
import type { ForwardBackwardParams, ForwardParams, OptimStepParams, SaveStateParams, TrainBatchParams } from "./types.js";

/** Options of a TrainingClient (`client.training(runId, options)`, `new AsyncTrainingClient(options)`). */
export interface TrainingOptions {
  /**
   * Calls sent without waiting for the answers of the ones before them. Un-awaited calls go out
   * back to back, this many at most, and still apply in call order, each once (see
   * `TrainingClient`). `1` sends a call only when the one before it has been answered.
   * @default 8
   */
  maxInFlight?: number | undefined;
}
/** One step of `trainEpoch`, as `onStep` receives it. */
export interface EpochStep {
  /** 1-based position of the batch in this epoch. */
  index: number;
  result: TrainStepResult;
  /** Running mean loss of this epoch so far. */
  avg_loss: number;
  /** The evaluation of `evalData` after this step, when one ran (see `TrainEpochOptions.evalEvery`). */
  eval?: { loss: number; token_accuracy: number | undefined } | undefined;
}

/** Options of `trainEpoch` (SDK options, camelCase; the wire fields of each step go in `params`). */
export interface TrainEpochOptions {
  /** Sent with every step, as `trainBatch`'s params: `{ learning_rate, max_grad_norm }`. @default none (the run's) */
  params?: TrainBatchParams | undefined;
  /**
   * Where progress goes (stderr by default). Unset: a bar on a TTY and nothing elsewhere (a log
   * file, CI). `true` or options: the bar on a TTY, a plain line every `every` steps elsewhere.
   * `false`: nothing.
   * @default a bar on a TTY, silent otherwise
   */
  progress?: boolean | ProgressOptions | undefined;
  /** Called after every step, e.g. to log to a tracker. An exception stops the epoch. */
  onStep?: (step: EpochStep) => void | Promise<void>;
  /** Stops the epoch between steps and aborts the step in flight (`APIUserAbortError`). */
  signal?: AbortSignal | undefined;
  /** Number of batches, for the ETA, when `batches` has no `length`. */
  total?: number | undefined;
  /**
   * A held-out batch, evaluated with `forward` (which changes nothing) every `evalEvery` steps and
   * after the last one; each evaluation is recorded on the server as that step's `eval_loss` and
   * `eval_token_accuracy` (`listMetrics`) and passed to `onStep` as `eval`. It goes in one
   * `forward` call, so it must fit one request.
   */
  evalData?: TrainingBatch | undefined;
  /** Steps between evaluations of `evalData`. @default only after the epoch's last step */
  evalEvery?: number | undefined;
}

/** What `trainEpoch` resolves to. */
export interface EpochResult {
  /** Mean loss over the epoch's steps; `null` for an empty epoch. */
  avg_loss: number | null;
  steps: number;
  num_tokens: number;
  elapsed_ms: number;
  /** The last evaluation of `evalData` (after the epoch's last step), when `evalData` was given. */
  eval?: { loss: number; token_accuracy: number | undefined } | undefined;
}

/**
 * Training on one run with training defaults: 1 h per attempt, 3 retries, exponential backoff
 * capped at 60 s (it waits out overload rather than failing a run). Every POST carries an
 * Idempotency-Key reused by its retries, so a retried step is applied once.
 *
 * **Pipelining.** Calls apply in the order they were made, and un-awaited calls do not wait for
 * each other's answers: up to `maxInFlight` (8) are on the wire at once, each with a
 * `Signal-Sequence: <client id>:<position>` header, and the server applies them in position
 * order (holding an early arrival for its predecessors), so a loop of un-awaited `trainBatch`
 * calls costs one round trip, not one per step. Their promises settle in call order. Awaiting
 * every call behaves exactly as one call at a time.
 *
 * **Failures.** A call that fails (after its retries) never lets the calls made after it apply
 * as if it had succeeded: every call made before the failure reached the client that has not
 * been applied yet rejects with `SequenceBrokenError` (its `cause` is the failure) and is not
 * applied. Calls made after that start a new sequence. A call the SDK refuses before sending
 * (`ValidationError`) counts as a failure too. When the failure left a gap (the call's retries
 * ran out before the server saw it), the server refuses the calls after it once its hold
 * (30 s on the local server) expires.
 *
 * Two clients on one run are ordered only within each client: the server interleaves their
 * calls in arrival order.
 *
 * Make one with `client.training(runId)` / `run.training()` (shares the client's pool) or
 * `new AsyncTrainingClient({ runId, apiKey })` (owns its pool). Close with `await t.close()`
 * or `await using t = ...`.
 */
export class TrainingClient {
  /** The run this client trains. */
  readonly runId: string;
  readonly #api: Api;
  /** The path parameters of every run-scoped call. */
  readonly #path: { run_id: string };
  readonly #ownsPool: boolean;
  readonly #metrics: MetricsRecorder;
  readonly #maxInFlight: number;
  /** Calls not started yet, in call order. */
  readonly #waiting: Array<() => void> = [];
  #inFlight = 0;
  /** A started call that has not taken its position yet: nothing after it starts until it does. */
  #holder: object | undefined;
  #sequence: Sequence = newSequence();
  /** Settles when every call made so far has settled (in call order). */
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  /**
   * @internal Use `client.training(runId)` or `new AsyncTrainingClient(...)`.
   * @throws SignalError for a `maxInFlight` that is not an integer >= 1.
   */
  constructor(api: Api, runId: string, options: TrainingOptions & { ownsPool: boolean; initialStep?: number | undefined }) {
    checkInteger("maxInFlight", options.maxInFlight, 1);
    this.#api = api;
    this.runId = runId;
    this.#path = { run_id: runId };
    this.#ownsPool = options.ownsPool;
    this.#metrics = new MetricsRecorder(options.initialStep);
    this.#maxInFlight = options.maxInFlight ?? 8;
  }

  /**
   * Queues one call. It starts when fewer than `maxInFlight` calls are on the wire and every
   * call before it has started (and taken its position); it settles after the call before it,
   * and its result is recorded then, whether or not the caller awaits it. `sequenced: false` is
   * for a call the server does not order (a forward on a checkpoint): it takes no position.
   */
  #enqueue<T extends { step: number }>(
    start: (options: CallOptions, reserve: () => string) => APIPromise<T>,
    options: RequestOptions | undefined,
    record?: (result: T) => void,
    { learnsStep = true, sequenced = true } = {},
  ): APIPromise<T> {
    if (this.#closed) {
      const error = new SignalError(`TrainingClient for ${this.runId} is closed.`);
      return APIPromise._rejected<T>(error);
    }
    const sequence = this.#sequence;
    let call: APIPromise<T> | undefined;
    const sent = new Promise<RawCall>((resolve, reject) => {
      this.#waiting.push(() => {
        if (sequence !== this.#sequence) return reject(SKIPPED);
        const token = {};
        let placed = !sequenced;
        const callOptions: CallOptions = { ...options };
        // A position for an inner call of a composite one (forwardBackwardCustom's forward): it
        // does not let the calls after this one start; the call's own `sequence` does.
        const reserve = () => `${sequence.id}:${sequence.next++}`;
        if (sequenced) {
          callOptions.sequence = () => {
            placed = true;
            if (this.#holder === token) this.#release(token);
            return `${sequence.id}:${sequence.next++}`;
          };
        }
        this.#inFlight++;
        call = start(callOptions, reserve);
        call
          ._raw()
          .then(resolve, (error: unknown) => {
            if (sequenced) this.#failed(sequence, error);
            reject(error);
          })
          .finally(() => {
            this.#inFlight--;
            this.#release(token);
          });
        if (!placed) this.#holder = token;
      });
      this.#pump();
    });
    // Handled here at once: the caller sees the rejection through `raw`, after the call before it settles.
    sent.catch(noop);
    const raw = this.#tail
      .then(() => sent)
      .catch((error: unknown) => {
        throw error === SKIPPED || isBroken(error) ? new SequenceBrokenError(sequence.failure ?? error) : error;
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

  #pump(): void {
    while (this.#holder === undefined && this.#inFlight < this.#maxInFlight) {
      const next = this.#waiting.shift();
      if (!next) return;
      next();
    }
  }

  #release(token: object): void {
    if (this.#holder === token) this.#holder = undefined;
    queueMicrotask(() => this.#pump());
  }

  /** A call of `sequence` failed: the calls not applied yet fail with it, later ones start a new sequence. */
  #failed(sequence: Sequence, error: unknown): void {
    // The failure that broke the sequence, not the refusals it caused (they may come first).
    if (sequence.failure === undefined || isBroken(sequence.failure)) sequence.failure = error;
    if (this.#sequence === sequence) this.#sequence = newSequence();
  }

  /**
   * Computes the loss of `batch` (cross-entropy, or the RL loss `params.loss_fn` with
   * `params.loss_fn_config`) and accumulates its gradient (applied by the next optimStep).
   * @throws ValidationError for a malformed batch (nothing sent); BadRequestError for an example longer than the context, or an RL loss without `logprobs` / `advantages` (naming the field).
   */
  forwardBackward(batch: TrainingBatch, params?: ForwardBackwardParams, options?: RequestOptions): APIPromise<ForwardBackwardResult>;
  /** @deprecated Pass the options third: `forwardBackward(batch, {}, options)`. */
  forwardBackward(batch: TrainingBatch, options: RequestOptions): APIPromise<ForwardBackwardResult>;
  forwardBackward(batch: TrainingBatch, second?: ForwardBackwardParams | RequestOptions, third?: RequestOptions): APIPromise<ForwardBackwardResult> {
    const [params, options] = lossAndOptions(second, third);
    return this.#enqueue(
      (call) => callOperation(this.#api, "forwardBackward", { path: this.#path, body: { ...params, batch } }, call),
      options,
      (result) => this.#metrics.recordLoss(result.loss, result.grad_norm, result.num_tokens),
    );
  }

  /**
   * A loss computed on the client, trained on like any other: gets the logprobs of `batch` with
   * `forward` (the live weights, after every call made before this one), runs
   * `lossFn(logprobs, batch)` for `{ loss, grads }` (`grads[e][i]` = ∂loss/∂`logprobs[e][i]`),
   * and accumulates that gradient with one backward (the `linear` loss with
   * `advantages = -grads`), then optimStep applies it as usual. Both calls keep this call's
   * place in the call order: calls made after it wait for the loss function and start once the
   * backward has its position; each is retried exactly once-applied like any training call.
   * The result is the backward's (`grad_norm`, `num_tokens` = target positions, ...) with the
   * custom `loss` and the `logprobs`.
   * @throws ValidationError for a batch of other than `{tokens}` examples, or a return value of
   *   the wrong shape (naming the field: `grads[0][3]`), before the backward is sent; whatever
   *   `lossFn` throws (nothing accumulated); the errors of `forward` and `forwardBackward`.
   */
  forwardBackwardCustom(batch: TokensExample[], lossFn: CustomLossFn, options?: RequestOptions): APIPromise<ForwardBackwardCustomResult> {
    return this.#enqueue(
      // The forward takes a position without letting later calls start; the backward's releases them.
      (call, reserve) => customLossCall(this.#api, this.runId, batch, lossFn, { ...call, sequence: reserve } as CallOptions, call),
      options,
      (result) => this.#metrics.recordLoss(result.loss, result.grad_norm, result.num_tokens),
    );
  }

  /**
   * Per-token log-probabilities of `batch` and its cross-entropy under the live weights (in call
   * order: after every call made before it) or the checkpoint at `params.step`. Changes nothing.
   * @throws ValidationError for a malformed batch (nothing sent); NotFoundError for a step with no checkpoint.
   */
  forward(batch: TrainingBatch, params: ForwardParams = {}, options?: RequestOptions): APIPromise<ForwardResult> {
    // A checkpoint's step is not the run's: only a live-weights answer tells the current step.
    const live = params.step === undefined;
    // The server orders only live-weights forwards among the run's calls.
    return this.#enqueue((call) => callOperation(this.#api, "forward", { path: this.#path, body: { batch, ...params } }, call), options, undefined, {
      learnsStep: live,
      sequenced: live,
    });
  }

  /**
   * Applies the mean accumulated gradient (AdamW); `learning_rate` / `max_grad_norm` override this step only.
   * @throws ConflictError `nothing_accumulated` when no forwardBackward happened since the last step.
   */
  optimStep(params: OptimStepParams = {}, options?: RequestOptions): APIPromise<OptimStepResult> {
    return this.#enqueue((call) => callOperation(this.#api, "optimStep", { path: this.#path, body: params }, call), options);
  }

  /** Discards the accumulated gradient: the "skip this step" path. */
  zeroGrad(options?: RequestOptions): APIPromise<ZeroGradResult> {
    return this.#enqueue((call) => callOperation(this.#api, "zeroGrad", { path: this.#path }, call), options);
  }

  /**
   * forwardBackward + optimStep in ONE round trip (the trainStep operation).
   * @returns `{ step, loss, grad_norm, learning_rate, num_tokens, num_examples }`
   */
  trainBatch(batch: TrainingBatch, params: TrainBatchParams = {}, options?: RequestOptions): APIPromise<TrainStepResult> {
    return this.#enqueue(
      (call) => callOperation(this.#api, "trainStep", { path: this.#path, body: { ...params, batch } }, call),
      options,
      (result) => this.#metrics.recordLoss(result.loss, result.grad_norm, result.num_tokens),
    );
  }

  /**
   * One trainBatch per batch of any Iterable or AsyncIterable, with a progress bar (see
   * `TrainEpochOptions.progress`). Stops at the first failed step and rethrows its error.
   * @throws APIUserAbortError when `signal` fires.
   */
  async trainEpoch(batches: Iterable<TrainingBatch> | AsyncIterable<TrainingBatch>, options: TrainEpochOptions = {}): Promise<EpochResult> {
    // `learning_rate` / `max_grad_norm` beside the options are the earlier form: still applied
    // (with a warning), no longer in the type, as one object never mixes the two cases.
    const {
      progress,
      onStep,
      signal,
      total,
      evalData,
      evalEvery,
      params: given,
      learning_rate,
      max_grad_norm,
    } = options as TrainEpochOptions & TrainBatchParams;
    if (learning_rate !== undefined || max_grad_norm !== undefined) {
      warnDeprecated(
        this.#api.logger,
        "trainEpoch(batches, { learning_rate, max_grad_norm })",
        "trainEpoch(batches, { params: { learning_rate, max_grad_norm } })",
      );
    }
    const params: TrainBatchParams = {
      ...(learning_rate !== undefined ? { learning_rate } : {}),
      ...(max_grad_norm !== undefined ? { max_grad_norm } : {}),
      ...given,
    };
    if (evalEvery !== undefined) checkInteger("evalEvery", evalEvery, 1);
    const evaluate = async () => {
      const result = await this.forward(evalData!, { record_eval: true }, { signal });
      return { loss: result.loss, token_accuracy: result.token_accuracy };
    };
    const known = total ?? lengthOf(batches);
    const reporter = await createProgress(progress, known);
    const started = Date.now();
    let steps = 0;
    let tokens = 0;
    let lossSum = 0;
    let evaluatedAt = 0;
    let lastEval: EpochStep["eval"];
    try {
      for await (const batch of batches) {
        if (signal?.aborted) throw new APIUserAbortError("trainEpoch was aborted.", { cause: signal.reason });
        const result = await this.trainBatch(batch, params, { signal });
        steps += 1;
        tokens += result.num_tokens;
        lossSum += result.loss;
        const avg = lossSum / steps;
        reporter.update({ steps, step: result.step, loss: result.loss, avg_loss: avg, num_tokens: tokens, elapsed_ms: Date.now() - started });
        const step: EpochStep = { index: steps, result, avg_loss: avg };
        if (evalData !== undefined && ((evalEvery !== undefined && steps % evalEvery === 0) || steps === known)) {
          step.eval = lastEval = await evaluate();
          evaluatedAt = steps;
        }
        await onStep?.(step);
      }
      // An epoch of unknown length learns which step was its last only now.
      if (evalData !== undefined && steps > 0 && evaluatedAt !== steps) lastEval = await evaluate();
    } finally {
      reporter.stop();
    }
    const result: EpochResult = { avg_loss: steps === 0 ? null : lossSum / steps, steps, num_tokens: tokens, elapsed_ms: Date.now() - started };
    if (lastEval) result.eval = lastEval;
    return result;
  }

  /** Saves a checkpoint at the current step: `adapter` (LoRA weights) or `state` (with the optimizer). */
  saveCheckpoint(params: SaveStateParams = {}, options?: RequestOptions): APIPromise<Checkpoint> {
    return this.#enqueue((call) => callOperation(this.#api, "createCheckpoint", { path: this.#path, body: params }, call), options);
  }

  /**
   * Loads the checkpoint at `step` into the live run (optimizer too for a `state` checkpoint).
   * @throws NotFoundError listing the steps that have checkpoints.
   */
  restoreCheckpoint(step: number, options?: RequestOptions): APIPromise<RestoreResponse> {
    return this.#enqueue((call) => callOperation(this.#api, "restoreCheckpoint", { path: this.#path, body: { step } }, call), options);
  }

  /**
   * Sets how long the checkpoint at `step` lives: `seconds` from now, or forever (`null`); in
   * call order, after the calls made before it.
   * @throws NotFoundError listing the steps that exist, or `checkpoint_expired`.
   */
  setCheckpointTtl(step: number, seconds: number | null, options?: RequestOptions): APIPromise<Checkpoint> {
    return this.#enqueue(
      (call) => callOperation(this.#api, "setCheckpointTtl", { path: { ...this.#path, step }, body: { ttl_seconds: seconds } }, call),
      options,
    );
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
    return new PagePromise((after) => callOperation(this.#api, "listMetrics", { path: this.#path, query: { ...query, after } }, options), query.after);
  }

  /** The run's checkpoints by step: await for a page, `for await` for every one; `after` resumes. */
  listCheckpoints(query: ListCheckpointsQuery = {}, options?: RequestOptions): PagePromise<Checkpoint> {
    return new PagePromise((after) => callOperation(this.#api, "listCheckpoints", { path: this.#path, query: { ...query, after } }, options), query.after);
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

/** One client's sequence of calls on its run: the `Signal-Sequence` id and the next position. */
interface Sequence {
  readonly id: string;
  next: number;
  /** The first failure of the sequence, once there is one. */
  failure?: unknown;
}

function newSequence(): Sequence {
  return { id: randomUUID(), next: 0 };
}

/** Why a queued call was not sent: its sequence failed before its turn. */
const SKIPPED = Symbol("skipped");

/** The server's refusal of a call after a failed predecessor. */
function isBroken(error: unknown): boolean {
  return error instanceof APIError && error.code === "sequence_broken";
}

function lengthOf(batches: unknown): number | undefined {
  if (Array.isArray(batches)) return batches.length;
  const size = (batches as { size?: unknown; length?: unknown }).length ?? (batches as { size?: unknown }).size;
  return typeof size === "number" ? size : undefined;
}
