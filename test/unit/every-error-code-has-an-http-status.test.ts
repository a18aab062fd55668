import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ERROR_STATUS, errorResponse } from "../../src/server/http/error-status.js";
import { isRetryable } from "../../src/server/runs/call-sequencer.js";
import { ApiError, ERROR_TYPES, type ErrorCode, type ErrorType } from "../../src/server/wire/api-error.js";

// The server's errors say what went wrong (code, class, message, field, when to retry); only
// http/ knows the HTTP status of each code. `ApiError` takes an `ErrorCode`, so every code
// thrown anywhere is a key of ERROR_TYPES: walking those keys walks every code the server can
// answer with.
const CODES = Object.keys(ERROR_TYPES) as ErrorCode[];

// The statuses each error class may have (the spec's `Error.type` "maps to the HTTP status").
const STATUSES_OF: Record<ErrorType, (status: number) => boolean> = {
  invalid_request_error: (s) => s >= 400 && s < 500 && ![401, 403, 404, 409, 429].includes(s),
  authentication_error: (s) => s === 401,
  permission_error: (s) => s === 403,
  not_found_error: (s) => s === 404,
  conflict_error: (s) => s === 409,
  rate_limit_error: (s) => s === 429,
  api_error: (s) => s >= 500 && s < 600,
  overloaded_error: (s) => s === 503,
};

describe("every error code the server can throw", () => {
  it("has an HTTP status in http/'s table", () => {
    const table: Partial<Record<string, number>> = ERROR_STATUS;
    const missing = CODES.filter((code) => !Number.isInteger(table[code]));
    expect(missing).toEqual([]);
    // ...and the table has no status for a code nothing can throw.
    expect(Object.keys(ERROR_STATUS).filter((code) => !(code in ERROR_TYPES))).toEqual([]);
  });

  it("gets a status its error class allows", () => {
    const wrong = CODES.filter((code) => !STATUSES_OF[ERROR_TYPES[code]](ERROR_STATUS[code])).map(
      (code) => `${code}: ${ERROR_TYPES[code]} ${ERROR_STATUS[code]}`,
    );
    expect(wrong).toEqual([]);
  });

  it("is retryable in a call sequence exactly when its status is 429 or 5xx, or it is conflict_retryable", () => {
    // The rule from when errors carried their status, now decided by class and code.
    const disagree = CODES.filter((code) => {
      const status = ERROR_STATUS[code];
      return isRetryable(new ApiError(code, "x")) !== (status === 429 || status >= 500 || code === "conflict_retryable");
    });
    expect(disagree).toEqual([]);
    expect(isRetryable(new Error("unexpected"))).toBe(true);
  });

  it("is answered with Retry-After (and retry-after-ms) only when it says when to retry", () => {
    expect(errorResponse(new ApiError("rate_limited", "x", undefined, { seconds: 2, ms: 1500 }))).toEqual({
      status: 429,
      headers: { "retry-after": "2", "retry-after-ms": "1500" },
    });
    expect(errorResponse(new ApiError("resource_exhausted", "x", undefined, { seconds: 5 }))).toEqual({ status: 503, headers: { "retry-after": "5" } });
    expect(errorResponse(new ApiError("validation_error", "x", "lora_r"))).toEqual({ status: 422, headers: {} });
  });

  it("is one the type system knows: an unlisted code does not compile", () => {
    // @ts-expect-error "no_such_code" is not an ErrorCode: it would have no status.
    const error = new ApiError("no_such_code", "x");
    expect(error.type).toBeUndefined();
  });
});

describe("the spec's ErrorCode", () => {
  it("lists every code the server can throw, so a client's ErrorCode names what it will meet", () => {
    const spec = parse(readFileSync(fileURLToPath(new URL("../../openapi/signal.yaml", import.meta.url)), "utf8")) as {
      components: { schemas: { ErrorCode: { enum: string[] } } };
    };
    const listed = new Set(spec.components.schemas.ErrorCode.enum);
    expect(CODES.filter((code) => !listed.has(code))).toEqual([]);
  });
});
