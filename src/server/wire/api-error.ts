/** The error classes of the wire contract; each maps to one HTTP status. */
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
 * An error the server answers with `{ error: { type, code, message, param?, request_id } }`.
 * Handlers throw it; the request pipeline turns it into the response. Anything else thrown
 * becomes a 500 `internal_error` whose message reveals nothing about the cause.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    /** The field the error is about, as a path (`batch[3].completion`). */
    readonly param?: string,
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/** 422 `validation_error` naming the first offending field. */
export function validationError(message: string, param?: string): ApiError {
  return new ApiError(422, "invalid_request_error", "validation_error", message, param);
}

/** 404 `run_not_found`; also what another key's run looks like, so ids cannot be probed. */
export function runNotFound(runId: string, param = "run_id"): ApiError {
  return new ApiError(404, "not_found_error", "run_not_found", `No run ${runId} for this API key.`, param);
}

/** 404 `checkpoint_not_found` whose message lists the steps that do exist. */
export function checkpointNotFound(runId: string, step: number, existing: number[], param = "step"): ApiError {
  const list = existing.length === 0 ? "the run has no checkpoints" : `checkpoints exist at steps ${existing.join(", ")}`;
  return new ApiError(404, "not_found_error", "checkpoint_not_found", `Run ${runId} has no checkpoint at step ${step}; ${list}.`, param);
}

/** 404 `checkpoint_expired`: the checkpoint existed and expired (its files are removed). */
export function checkpointExpired(runId: string, step: number, expiresAt: string, existing: number[], param = "step"): ApiError {
  const list = existing.length === 0 ? "the run has no other checkpoints" : `checkpoints exist at steps ${existing.join(", ")}`;
  return new ApiError(
    404,
    "not_found_error",
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

/** The 500 answer for anything unexpected: no internals, just the request id to quote. */
export function internalError(): ApiError {
  return new ApiError(500, "api_error", "internal_error", "Internal error; quote the request id when reporting it.");
}
