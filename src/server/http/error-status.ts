import type { ServerResponse } from "node:http";
import { type ApiError, type ErrorCode, errorBody } from "../wire/api-error.js";
import { sendJson } from "../wire/respond.js";

/**
 * The HTTP status of every error code: the one place an error becomes HTTP. Mostly its class's
 * status (invalid_request_error 400, authentication_error 401, permission_error 403,
 * not_found_error 404, conflict_error 409, rate_limit_error 429, api_error 500,
 * overloaded_error 503); the exceptions are spelled out. A code without a status is a compile
 * error, and `test/unit/every-error-code-has-an-http-status.test.ts` names it.
 */
export const ERROR_STATUS = {
  validation_error: 422,
  invalid_json: 400,
  invalid_request: 400,
  malformed_request: 400,
  invalid_example: 400,
  invalid_token: 400,
  invalid_model: 400,
  invalid_adapter: 400,
  invalid_conversation: 400,
  chat_template_error: 400,
  no_chat_template: 400,
  eval_not_recordable: 400,
  context_length_exceeded: 400,
  sample_too_large: 400,
  payload_too_large: 413,
  header_too_large: 431,
  method_not_allowed: 405,
  request_timeout: 408,
  // nginx's "client closed request": only the log sees it, the client is gone.
  client_closed_request: 499,
  invalid_api_key: 401,
  cors_origin_not_allowed: 403,
  host_not_allowed: 403,
  route_not_found: 404,
  run_not_found: 404,
  model_not_found: 404,
  checkpoint_not_found: 404,
  checkpoint_expired: 404,
  nothing_accumulated: 409,
  non_finite_gradient: 409,
  non_finite_weights: 409,
  idempotency_key_reused: 409,
  conflict_retryable: 409,
  sequence_broken: 409,
  sequence_superseded: 409,
  rate_limited: 429,
  internal_error: 500,
  storage_unavailable: 503,
  overloaded: 503,
  resource_exhausted: 503,
} as const satisfies Record<ErrorCode, number>;

/** The status and headers of the answer to `error`: `Retry-After` (and `retry-after-ms`) when it says when to retry. */
export function errorResponse(error: ApiError): { status: number; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  if (error.retryAfter !== undefined) {
    headers["retry-after"] = String(error.retryAfter.seconds);
    if (error.retryAfter.ms !== undefined) headers["retry-after-ms"] = String(error.retryAfter.ms);
  }
  return { status: ERROR_STATUS[error.code], headers };
}

/** Writes an error in the error schema with its status and headers. */
export function sendError(res: ServerResponse, error: ApiError, requestId: string): void {
  const { status, headers } = errorResponse(error);
  sendJson(res, status, errorBody(error, requestId), headers);
}
