/**
 * The error tree. Every error the SDK throws is a `SignalError`; HTTP failures are `APIError`
 * subclasses chosen by status in one place (`src/internal/error-factory.ts`). The original failure,
 * when there is one, is kept as `cause`. No error ever carries the API key: messages coming from
 * the server are passed through the key redactor before they are stored.
 */

import type { ErrorCode } from "../generated/schema.js";

/** The root of every error thrown by the SDK. `instanceof SignalError` catches them all. */
export class SignalError extends Error {
  override name = "SignalError";
}

/** The `error` object of the wire's error body (`{ "error": { ... } }`). */
export interface APIErrorBody {
  type: string;
  /** One of the spec's `ErrorCode`s, or a code a newer server added. */
  code: ErrorCode;
  message: string;
  param?: string | undefined;
  request_id: string;
}

/** What the factory knows about a failed response. */
export interface APIErrorInit {
  status: number;
  body: APIErrorBody | undefined;
  message: string;
  headers: Headers;
  requestId: string | undefined;
}

/**
 * The server answered with a non-2xx status. `type`, `code` and `param` come from the error
 * body (see the spec's `Error` schema); `requestId` is the `x-request-id` to quote when
 * reporting a problem.
 */
export class APIError extends SignalError {
  override name = "APIError";
  /** The HTTP status. */
  readonly status: number;
  /** The error class from the body, e.g. `not_found_error`; `undefined` when the body was not the error schema. */
  readonly type: string | undefined;
  /**
   * The stable machine-readable code, e.g. `run_not_found`, `nothing_accumulated`: the spec's
   * `ErrorCode` values autocomplete, and a code a newer server added is still a string here.
   */
  readonly code: ErrorCode | undefined;
  /** The field the error is about, as a path (`batch[3].completion`), when the server named one. */
  readonly param: string | undefined;
  /** The `x-request-id` of the failed response (or `request_id` of the body). */
  readonly requestId: string | undefined;
  /** The response headers (never the request's, so never the Authorization header). */
  readonly headers: Headers;
  /** The parsed error body, when it matched the error schema. */
  readonly error: APIErrorBody | undefined;

  constructor(init: APIErrorInit) {
    super(init.message);
    this.status = init.status;
    this.type = init.body?.type;
    this.code = init.body?.code;
    this.param = init.body?.param;
    this.requestId = init.requestId ?? init.body?.request_id;
    this.headers = init.headers;
    this.error = init.body;
  }
}

/** 400: the request was the right shape but cannot be done (e.g. `context_length_exceeded`). */
export class BadRequestError extends APIError {
  override name = "BadRequestError";
}
/** 401: the API key is missing or not valid. */
export class AuthenticationError extends APIError {
  override name = "AuthenticationError";
}
/** 403: the key may not do this. */
export class PermissionDeniedError extends APIError {
  override name = "PermissionDeniedError";
}
/** 404: no such run, checkpoint (the message lists the steps that exist) or model. */
export class NotFoundError extends APIError {
  override name = "NotFoundError";
}
/** 409: `nothing_accumulated`, `idempotency_key_reused`, or `conflict_retryable` once retries ran out. */
export class ConflictError extends APIError {
  override name = "ConflictError";
}
/** 422: the body broke the schema; `param` names the field. */
export class UnprocessableEntityError extends APIError {
  override name = "UnprocessableEntityError";
}
/** 429: too many requests, and retries ran out. `headers.get("retry-after")` says how long to wait. */
export class RateLimitError extends APIError {
  override name = "RateLimitError";
}
/** 5xx: the server failed, and retries ran out. */
export class InternalServerError extends APIError {
  override name = "InternalServerError";
}

/** Where a request that got no response was going, and what the network said. */
export interface ConnectionErrorDetails {
  /** The operation, e.g. `getHealth`. */
  operation?: string | undefined;
  /** The HTTP method. */
  method?: string | undefined;
  /** The URL of the request. */
  url?: string | undefined;
  /** The code of the root cause (`ECONNREFUSED`, `ENOTFOUND`, `UND_ERR_SOCKET`, ...), found down the `cause` chain. */
  code?: string | undefined;
  /** Attempts made, the first included. */
  attempts?: number | undefined;
}

/**
 * No response: DNS, refused or reset connection, or a body cut off. `cause` is the network error;
 * the message names the operation, method and URL, the root cause's code and the attempts made
 * (`getHealth: GET http://127.0.0.1:7399/v1/health: connection refused (ECONNREFUSED) after 3 attempts`).
 */
export class APIConnectionError extends SignalError {
  override name = "APIConnectionError";
  /** The operation that failed, when the error comes from a request. */
  readonly operation: string | undefined;
  /** The request's method. */
  readonly method: string | undefined;
  /** The request's URL. */
  readonly url: string | undefined;
  /** The root cause's code (`ECONNREFUSED`, `ENOTFOUND`, ...), when the network gave one. */
  readonly code: string | undefined;
  /** Attempts made before giving up, the first included. */
  readonly attempts: number | undefined;

  constructor(message = "Connection error.", options?: { cause?: unknown } & ConnectionErrorDetails) {
    super(message, options);
    this.operation = options?.operation;
    this.method = options?.method;
    this.url = options?.url;
    this.code = options?.code ?? rootCode(options?.cause);
    this.attempts = options?.attempts;
  }
}

/** An attempt took longer than the client's per-attempt `timeout`, and retries ran out. */
export class APITimeoutError extends APIConnectionError {
  override name = "APITimeoutError";
  constructor(message = "Request timed out.", options?: { cause?: unknown } & ConnectionErrorDetails) {
    super(message, options);
  }
}

/** The first string `code` down a `cause` chain (fetch's "fetch failed" keeps the socket error two levels down). */
function rootCode(cause: unknown): string | undefined {
  for (let at = cause, depth = 0; at !== undefined && at !== null && depth < 8; depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === "string") return code;
    const errors = (at as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      for (const inner of errors) {
        const found = rootCode(inner);
        if (found) return found;
      }
    }
    at = (at as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The caller's `AbortSignal` fired. Never retried. `cause` is the signal's reason. */
export class APIUserAbortError extends SignalError {
  override name = "APIUserAbortError";
  constructor(message = "Request was aborted.", options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Bad input caught before anything was sent. `path` is the field at fault
 * (`batch[0].completion`, `max_tokens`), and the message starts with it.
 */
export class ValidationError extends SignalError {
  override name = "ValidationError";
  /** The first field at fault, `""` for the whole value. */
  readonly path: string;
  /** Every problem found, each with its field path. */
  readonly issues: ReadonlyArray<{ path: string; message: string }>;

  constructor(message: string, issues: ReadonlyArray<{ path: string; message: string }>) {
    super(message);
    this.issues = issues;
    this.path = issues[0]?.path ?? "";
  }
}

/**
 * A 2xx response that breaks the contract (a missing or mistyped field, a body that is not
 * JSON). Thrown instead of handing back a value that would fail later as a silent `undefined`.
 */
export class APIResponseValidationError extends SignalError {
  override name = "APIResponseValidationError";
  /** The operationId, e.g. `getRun`. */
  readonly operation: string;
  /** The first field at fault in the response body. */
  readonly path: string;
  /** The `x-request-id` of the response. */
  readonly requestId: string | undefined;

  constructor(operation: string, path: string, detail: string, requestId: string | undefined, options?: { cause?: unknown }) {
    super(
      `The response of ${operation} breaks the API contract at ${path === "" ? "the body" : `'${path}'`}: ${detail}` +
        (requestId === undefined ? "" : ` (request id ${requestId})`),
      options,
    );
    this.operation = operation;
    this.path = path;
    this.requestId = requestId;
  }
}

/**
 * A chunk of `batchSample` failed. `startIndex`/`endIndex` (exclusive) are the positions of its
 * prompts in the input; `cause` is the chunk's error.
 */
export class BatchSampleError extends SignalError {
  override name = "BatchSampleError";
  readonly startIndex: number;
  readonly endIndex: number;

  constructor(startIndex: number, endIndex: number, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`batchSample failed for prompts ${startIndex}..${endIndex - 1}: ${detail}`, { cause });
    this.startIndex = startIndex;
    this.endIndex = endIndex;
  }
}

/**
 * A `TrainingClient` call that was not applied because a call made before it failed first
 * (`cause` is that failure): pipelined calls never apply past a failed one. Make the call again
 * once you have dealt with the failure; it starts a new sequence.
 */
export class SequenceBrokenError extends SignalError {
  override name = "SequenceBrokenError";
  constructor(cause: unknown) {
    super(`Not applied: an earlier call of this TrainingClient failed (${cause instanceof Error ? cause.message : String(cause)}).`, { cause });
  }
}
