import { trainingPolicy, inferencePolicy } from "./core/policy.js";
import { openApi, type ClientOptions } from "./client-options.js";
import { InferenceClient, type InferenceOptions } from "./inference-client.js";
import { TrainingClient, type TrainingOptions } from "./training-client.js";

/** Options of `new AsyncTrainingClient(...)`. */
export interface AsyncTrainingClientOptions extends ClientOptions, TrainingOptions {
  /** The run to train. */
  runId: string;
}

/**
 * The standalone constructor of a TrainingClient (every method already returns a Promise):
 * it owns its pool, so `close()` / `await using` aborts its requests still in flight and
 * leaves every other client alone. Policy: 1 h per attempt, 3 retries, backoff capped at 60 s.
 * @throws SignalError when there is no API key (option or SIGNAL_API_KEY).
 */
export class AsyncTrainingClient extends TrainingClient {
  constructor(options: AsyncTrainingClientOptions) {
    super(openApi(options, trainingPolicy), options.runId, { ownsPool: true, maxInFlight: options.maxInFlight });
  }
}

/** Options of `new AsyncInferenceClient(...)`. */
export interface AsyncInferenceClientOptions extends ClientOptions, InferenceOptions {
  /** The run to sample from. */
  runId: string;
}

/**
 * The standalone constructor of an InferenceClient: owns its pool; `Promise.all` over several
 * `batchSample` calls on one client is fine (each keeps its own `concurrency` bound). Policy:
 * 30 s per attempt, 2 immediate retries.
 * @throws SignalError when there is no API key (option or SIGNAL_API_KEY).
 */
export class AsyncInferenceClient extends InferenceClient {
  constructor(options: AsyncInferenceClientOptions) {
    super(openApi(options, inferencePolicy), options.runId, { ...options, ownsPool: true });
  }
}
