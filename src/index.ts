export { SignalClient, type ChildPolicyOptions } from "./signal-client.js";
export { SignalRun } from "./signal-run.js";
export { TrainingClient, type EpochResult, type EpochStep, type TrainEpochOptions, type TrainingOptions } from "./training-client.js";
export { InferenceClient, type BatchSampleOptions, type BatchSampleParams, type InferenceOptions, type WithRequestIds } from "./inference-client.js";
export {
  AsyncInferenceClient,
  AsyncTrainingClient,
  type AsyncInferenceClientOptions,
  type AsyncTrainingClientOptions,
} from "./async-clients.js";
export { DEFAULT_BASE_URL, type ClientOptions, type Logger, type LogLevel } from "./client-options.js";
export { VERSION } from "./core/version.js";
export { APIPromise, type WithResponse } from "./core/api-promise.js";
export { Stream } from "./stream.js";
export { readJsonl, type JsonlSource } from "./read-jsonl.js";
export { batches, type Batches, type BatchesOptions } from "./batches.js";
export type { TrainingMetrics } from "./training-metrics.js";
export type { CustomLossFn, CustomLossOutput, ForwardBackwardCustomResult } from "./custom-loss.js";
export type { CacheOptions, CacheStats } from "./sample-cache.js";
export type { ProgressOptions, ProgressStream } from "./progress.js";
export { Page, PagePromise, type CursorPage } from "./pagination.js";
// The SDK's typed conversations; they stand in for the wire's `Batch`, `Example`, `ChatMessage`,
// `ChatRole` and `ConversationExample` of `generated/schema`, whose messages the server checks itself.
export type { ChatMessage, ChatRole, ConversationExample, TokenizeMessages, TrainingBatch as Batch, TrainingExample as Example } from "./chat.js";
export type {
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
export type { FetchOptions, RequestOptions } from "./core/request-options.js";
export type { ListCheckpointsQuery, ListMetricsQuery, ListRunsQuery } from "../generated/operations.js";
export { requestIdOf, type WithRequestId } from "./core/request-id.js";
export { inferencePolicy, simplePolicy, trainingPolicy, type Backoff, type RequestPolicy } from "./core/policy.js";
export {
  APIConnectionError,
  APIError,
  APIResponseValidationError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  BatchSampleError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  SequenceBrokenError,
  SignalError,
  UnprocessableEntityError,
  ValidationError,
  type APIErrorBody,
} from "./errors.js";
export { createRawClient, type RawClient, type RawClientOptions } from "./core/raw-client.js";
export type * from "../generated/schema.js";
