/**
 * An example app module built on the SDK: fine-tune a base model on question → answer pairs,
 * checkpoint, then evaluate the checkpoint greedily. Its tests (`fine-tune-app.test.ts`) run it
 * against `createLocalServer` (the happy path, for real) and `createMockServer` (every error the
 * app has to handle, on demand).
 */
import {
  AuthenticationError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  type SignalClient,
  type SignalRun,
  UnprocessableEntityError,
} from "../../../src/index.js";

/** One fine-tuning job of the app. */
export interface Job {
  /** The app's id for the job; it makes the run's Idempotency-Key, so a job starts one run. */
  id: string;
  pairs: ReadonlyArray<{ prompt: string; completion: string }>;
  steps: number;
  /** @default 0.02 */
  learningRate?: number;
}

/** What a finished job reports. */
export interface JobReport {
  runId: string;
  baseModel: string;
  checkpointStep: number;
  lastLoss: number;
  /** The checkpoint's greedy answer to each prompt. */
  answers: string[];
  /** How many answers match their completion. */
  correct: number;
}

/** Why a job failed, in the app's own terms; `cause` is the SDK's error. */
export class JobError extends Error {
  override readonly name = "JobError";
  constructor(
    readonly reason: "bad_credentials" | "job_id_reused" | "bad_settings" | "service_busy",
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Runs a job on the service's default base model. A 429 is retried by the SDK (its
 * `maxRetries`); past that the `RateLimitError` reaches the caller unchanged.
 *
 * @throws JobError for a refused key, a job id reused with other settings, settings the
 *   service refuses, or an overloaded service.
 */
export async function fineTuneAndEvaluate(client: SignalClient, job: Job): Promise<JobReport> {
  try {
    const models = await client.listModels();
    const base = models.data.find((m) => m.default) ?? models.data[0]!;
    const run = await client.createRun(
      { base_model: base.id, learning_rate: job.learningRate ?? 0.02, seed: 1, metadata: { job: job.id } },
      { idempotencyKey: `job-${job.id}` },
    );
    let lastLoss = Number.NaN;
    for (let i = 0; i < job.steps; i++) lastLoss = (await run.trainBatch([...job.pairs])).loss;
    const checkpoint = await run.saveState({ mode: "adapter" });
    const answers = await run.sample(
      job.pairs.map((p) => p.prompt),
      { max_tokens: 8, temperature: 0, stop: ["\n"], step: checkpoint.step },
    );
    const correct = answers.filter((answer, i) => answer.trim() === job.pairs[i]!.completion.trim()).length;
    return { runId: run.run_id, baseModel: base.id, checkpointStep: checkpoint.step, lastLoss, answers, correct };
  } catch (error) {
    throw explain(error, job);
  }
}

/** The run of an earlier job, or `null` when the service no longer has it (404). */
export async function findRun(client: SignalClient, runId: string): Promise<SignalRun | null> {
  try {
    return await client.getRun(runId);
  } catch (error) {
    if (error instanceof NotFoundError) return null;
    throw error;
  }
}

function explain(error: unknown, job: Job): unknown {
  if (error instanceof AuthenticationError) {
    return new JobError("bad_credentials", "The service refused the API key: check SIGNAL_API_KEY.", { cause: error });
  }
  if (error instanceof ConflictError && error.code === "idempotency_key_reused") {
    return new JobError("job_id_reused", `Job ${job.id} was already started with other settings: give this job a new id.`, { cause: error });
  }
  if (error instanceof UnprocessableEntityError) {
    return new JobError("bad_settings", `The service refused the job's ${error.param ?? "settings"}: ${error.message}`, { cause: error });
  }
  if (error instanceof InternalServerError && error.status === 503) {
    return new JobError("service_busy", "The service is overloaded: try the job again later.", { cause: error });
  }
  return error;
}
