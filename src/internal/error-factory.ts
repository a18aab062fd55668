import {
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
  type APIErrorBody,
} from "../errors.js";
import { zError } from "../../generated/zod/zod.gen.js";
import { tolerantSchema } from "./tolerant-reader.js";
import { safeParse } from "./validate.js";

/** The status each error `type` of the spec maps to, for errors that arrive without one (SSE). */
const STATUS_OF_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  conflict_error: 409,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 503,
};

/**
 * Reads the error body when it matches the spec's `Error` schema, tolerantly: a newer server's
 * error `type` or extra fields still give the body (its `code` and `message` are what matter).
 */
function parseErrorBody(body: unknown): APIErrorBody | undefined {
  const parsed = safeParse(tolerantSchema(zError), body);
  return parsed.success ? parsed.data.error : undefined;
}

/**
 * Builds the `APIError` subclass for a failed response. The one place where status becomes a
 * class. `redact` scrubs the API key out of anything the server echoed.
 */
export function makeAPIError(status: number, rawBody: unknown, headers: Headers, redact: (text: string) => string = (text) => text): APIError {
  const body = parseErrorBody(rawBody);
  const requestId = headers.get("x-request-id") ?? body?.request_id;
  const detail = body?.message ?? (typeof rawBody === "string" && rawBody !== "" ? rawBody.slice(0, 500) : "no error body");
  const code = body ? ` ${body.code}` : "";
  const message = redact(`${status}${code}: ${detail}`) + (requestId ? ` (request id ${requestId})` : "");
  const safeBody = body ? { ...body, message: redact(body.message) } : undefined;
  const init = { status, body: safeBody, message, headers, requestId };
  const ErrorClass = errorClassFor(status);
  return new ErrorClass(init);
}

/** Builds the error of an `event: error` frame of a stream, whose status comes from its `type`. */
export function makeStreamError(rawBody: unknown, headers: Headers, redact?: (text: string) => string): APIError {
  const body = parseErrorBody(rawBody);
  const status = (body && STATUS_OF_TYPE[body.type]) ?? 500;
  return makeAPIError(status, rawBody, headers, redact);
}

function errorClassFor(status: number): typeof APIError {
  switch (status) {
    case 400:
      return BadRequestError;
    case 401:
      return AuthenticationError;
    case 403:
      return PermissionDeniedError;
    case 404:
      return NotFoundError;
    case 409:
      return ConflictError;
    case 422:
      return UnprocessableEntityError;
    case 429:
      return RateLimitError;
    default:
      return status >= 500 ? InternalServerError : APIError;
  }
}
