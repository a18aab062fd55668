/** The error classes of the wire contract: the error body's `type`. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "conflict_error"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

/**
 * Every error code the server answers with, and its class (the body's `type`). A code thrown
 * anywhere must be listed here (`ApiError` takes only an `ErrorCode`), and its HTTP status in
 * `ERROR_STATUS` (`http/error-status.ts`): a code missing from either is a compile error.
 */
export const ERROR_TYPES = {
  validation_error: "invalid_request_error",
  invalid_json: "invalid_request_error",
  invalid_request: "invalid_request_error",
  malformed_request: "invalid_request_error",
  invalid_example: "invalid_request_error",
  invalid_token: "invalid_request_error",
  invalid_model: "invalid_request_error",
  invalid_adapter: "invalid_request_error",
  invalid_conversation: "invalid_request_error",
  chat_template_error: "invalid_request_error",
  no_chat_template: "invalid_request_error",
  eval_not_recordable: "invalid_request_error",
  context_length_exceeded: "invalid_request_error",
  sample_too_large: "invalid_request_error",
  payload_too_large: "invalid_request_error",
  header_too_large: "invalid_request_error",
  method_not_allowed: "invalid_request_error",
  request_timeout: "invalid_request_error",
  client_closed_request: "invalid_request_error",
  invalid_api_key: "authentication_error",
  cors_origin_not_allowed: "permission_error",
  host_not_allowed: "permission_error",
  route_not_found: "not_found_error",
  run_not_found: "not_found_error",
  model_not_found: "not_found_error",
  checkpoint_not_found: "not_found_error",
  checkpoint_expired: "not_found_error",
  nothing_accumulated: "conflict_error",
  non_finite_gradient: "conflict_error",
  non_finite_weights: "conflict_error",
  idempotency_key_reused: "conflict_error",
  conflict_retryable: "conflict_error",
  sequence_broken: "conflict_error",
  sequence_superseded: "conflict_error",
  rate_limited: "rate_limit_error",
  internal_error: "api_error",
  storage_unavailable: "api_error",
  overloaded: "overloaded_error",
  resource_exhausted: "overloaded_error",
} as const satisfies Record<string, ErrorType>;

/** An error code the server answers with. */
export type ErrorCode = keyof typeof ERROR_TYPES;

/** When a refused call may be sent again: whole seconds, and the wait in ms where it is known finer. */
export interface RetryAfter {
  readonly seconds: number;
  readonly ms?: number;
}

/**
 * An error the server answers with `{ error: { type, code, message, param?, request_id } }`.
 * Handlers, runs and the store throw it; it says what went wrong, never how HTTP carries it:
 * the request pipeline (`http/error-status.ts`) gives it its status and headers. Anything else
 * thrown becomes a 500 `internal_error` whose message reveals nothing about the cause.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  /** The code's class, from `ERROR_TYPES`. */
  readonly type: ErrorType;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The field the error is about, as a path (`batch[3].completion`). */
    readonly param?: string,
    /** For a refusal of load: when to send the call again (the answer's `Retry-After`). */
    readonly retryAfter?: RetryAfter,
  ) {
    super(message);
    this.type = ERROR_TYPES[code];
  }
}

/** `validation_error` naming the first offending field. */
export function validationError(message: string, param?: string): ApiError {
  return new ApiError("validation_error", message, param);
}

/** `run_not_found`; also what another key's run looks like, so ids cannot be probed. */
export function runNotFound(runId: string, param = "run_id"): ApiError {
  return new ApiError("run_not_found", `No run ${runId} for this API key.`, param);
}

/** `checkpoint_not_found` whose message lists the steps that do exist. */
export function checkpointNotFound(runId: string, step: number, existing: number[], param = "step"): ApiError {
  const list = existing.length === 0 ? "the run has no checkpoints" : `checkpoints exist at steps ${existing.join(", ")}`;
  return new ApiError("checkpoint_not_found", `Run ${runId} has no checkpoint at step ${step}; ${list}.`, param);
}

/** `checkpoint_expired`: the checkpoint existed and expired (its files are removed). */
export function checkpointExpired(runId: string, step: number, expiresAt: string, existing: number[], param = "step"): ApiError {
  const list = existing.length === 0 ? "the run has no other checkpoints" : `checkpoints exist at steps ${existing.join(", ")}`;
  return new ApiError(
    "checkpoint_expired",
    `The checkpoint of run ${runId} at step ${step} expired at ${expiresAt} (its ttl_seconds) and is removed; ${list}.`,
    param,
  );
}

/** The body of an error response. */
export function errorBody(error: ApiError, requestId: string): { error: Record<string, string> } {
  const body: Record<string, string> = { type: error.type, code: error.code, message: error.message };
  if (error.param !== undefined) body.param = error.param;
  body.request_id = requestId;
  return { error: body };
}

/** The answer for anything unexpected: no internals, just the request id to quote. */
export function internalError(): ApiError {
  return new ApiError("internal_error", "Internal error; quote the request id when reporting it.");
}
