import type {
  Batch,
  Checkpoint,
  CheckpointList,
  ForwardBackwardResult,
  OptimStepResult,
  RestoreResponse,
  Run,
  RunDeleted,
  TrainStepResult,
  ZeroGradResult,
} from "../generated/schema.js";
import type { WithRequestId } from "./core/request-id.js";
import type { PagePromise } from "./pagination.js";
import type { RequestOptions } from "./core/transport.js";
import type { InferenceClient, InferenceOptions } from "./inference-client.js";
import type { ChildPolicyOptions, SignalClient } from "./signal-client.js";
import type { TrainingClient } from "./training-client.js";
import type { OptimStepParams, SampleParams, SaveStateParams, TrainBatchParams } from "./types.js";

export interface SignalRun extends Run {}

/**
 * A run with its methods: every field of the wire's `Run` (`run_id`, `current_step`, ...) as
 * of the last fetch, plus the simple API's calls bound to this run. `refresh()` re-reads the
 * fields. Serialises (`JSON.stringify`) to the plain run.
 */
export class SignalRun {
  readonly #client: SignalClient;

  /** @internal Made by `client.createRun` / `client.getRun`. */
  constructor(client: SignalClient, run: Run) {
    this.#client = client;
    assignFields(this, run);
  }

  /** Loss of `batch`; the gradient accumulates until optimStep. */
  forwardBackward(batch: Batch, options?: RequestOptions): Promise<WithRequestId<ForwardBackwardResult>> {
    return this.#client.forwardBackward(this.run_id, batch, options);
  }

  /** Applies the accumulated gradient. @throws ConflictError `nothing_accumulated` */
  optimStep(params?: OptimStepParams, options?: RequestOptions): Promise<WithRequestId<OptimStepResult>> {
    return this.#client.optimStep(this.run_id, params, options);
  }

  /** forwardBackward + optimStep in one round trip. */
  trainStep(batch: Batch, params?: TrainBatchParams, options?: RequestOptions): Promise<WithRequestId<TrainStepResult>> {
    return this.#client.trainStep(this.run_id, batch, params, options);
  }

  /** Alias of `trainStep`, with the TrainingClient's name. */
  trainBatch(batch: Batch, params?: TrainBatchParams, options?: RequestOptions): Promise<WithRequestId<TrainStepResult>> {
    return this.trainStep(batch, params, options);
  }

  zeroGrad(options?: RequestOptions): Promise<WithRequestId<ZeroGradResult>> {
    return this.#client.zeroGrad(this.run_id, options);
  }

  /** One text per completion; `params.step` picks a checkpoint. */
  sample(prompts: string[], params?: SampleParams, options?: RequestOptions): Promise<WithRequestId<string[]>> {
    return this.#client.sample(this.run_id, prompts, params, options);
  }

  /** Saves a checkpoint at the current step. */
  saveState(params?: SaveStateParams, options?: RequestOptions): Promise<WithRequestId<Checkpoint>> {
    return this.#client.saveState(this.run_id, params, options);
  }

  /** The run's checkpoints by step: `await` for a page, `for await` for every one. */
  listCheckpoints(query: { limit?: number } = {}, options?: RequestOptions): PagePromise<CheckpointList, Checkpoint> {
    return this.#client.listCheckpoints(this.run_id, query, options);
  }

  downloadCheckpoint(step: number, options?: RequestOptions): Promise<WithRequestId<Uint8Array>> {
    return this.#client.downloadCheckpoint(this.run_id, step, options);
  }

  restore(step: number, options?: RequestOptions): Promise<WithRequestId<RestoreResponse>> {
    return this.#client.restoreCheckpoint(this.run_id, step, options);
  }

  /** A TrainingClient for this run on the client's pool (training policy unless overridden). */
  training(options: ChildPolicyOptions = {}): TrainingClient {
    return this.#client.training(this.run_id, { ...options, initialStep: this.current_step });
  }

  /** An InferenceClient for this run on the client's pool. */
  inference(options: ChildPolicyOptions & InferenceOptions = {}): InferenceClient {
    return this.#client.inference(this.run_id, options);
  }

  /** Re-reads the run (e.g. `current_step`) into this object and returns it. */
  async refresh(options?: RequestOptions): Promise<this> {
    const latest = await this.#client.getRun(this.run_id, options);
    assignFields(this, latest.toJSON());
    return this;
  }

  /** Alias of `refresh`. */
  get(options?: RequestOptions): Promise<this> {
    return this.refresh(options);
  }

  /** Deletes the run and its checkpoints. */
  delete(options?: RequestOptions): Promise<WithRequestId<RunDeleted>> {
    return this.#client.deleteRun(this.run_id, options);
  }

  /** The plain run, as on the wire. */
  toJSON(): Run {
    return { ...this };
  }
}

/** Copies the run's fields, skipping any a newer server might add under a method's name. */
function assignFields(target: SignalRun, run: Run): void {
  for (const [key, value] of Object.entries(run)) {
    if (!(key in SignalRun.prototype)) (target as unknown as Record<string, unknown>)[key] = value;
  }
}
