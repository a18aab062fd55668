import { describe, expect, it } from "vitest";
import {
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  SignalClient,
  SignalError,
  UnprocessableEntityError,
} from "../../src/index.js";
import { BASE, KEY, RUN_ID, apiError, scriptedFetch } from "./helpers/scripted-fetch.js";

describe("the error tree", () => {
  it.each([
    [400, BadRequestError],
    [401, AuthenticationError],
    [403, PermissionDeniedError],
    [404, NotFoundError],
    [409, ConflictError],
    [413, APIError],
    [422, UnprocessableEntityError],
    [429, RateLimitError],
    [500, InternalServerError],
    [503, InternalServerError],
  ] as const)("%i becomes %o with the body's fields", async (status, ErrorClass) => {
    const { fetch } = scriptedFetch([apiError(status, "invalid_request_error", "some_code", "what went wrong")]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 0 });
    const error = (await client.getRun(RUN_ID).catch((e: unknown) => e)) as APIError;
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toBeInstanceOf(SignalError);
    expect(error.status).toBe(status);
    expect(error.code).toBe("some_code");
    expect(error.type).toBe("invalid_request_error");
    expect(error.requestId).toBe(`req_${status}`);
    expect(error.headers.get("x-request-id")).toBe(`req_${status}`);
    expect(error.message).toContain("what went wrong");
    expect(error.message).toContain(`req_${status}`);
  });

  it("keeps param from the body", async () => {
    const body = { error: { type: "invalid_request_error", code: "validation_error", message: "bad", param: "batch[3].completion", request_id: "r1" } };
    const { fetch } = scriptedFetch([new Response(JSON.stringify(body), { status: 422 })]);
    const error = (await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).getRun(RUN_ID).catch((e: unknown) => e)) as APIError;
    expect(error.param).toBe("batch[3].completion");
    expect(error.requestId).toBe("r1");
  });

  it("a non-schema error body still gives a status-classed error", async () => {
    const { fetch } = scriptedFetch([new Response("Bad Gateway", { status: 404 })]);
    const error = (await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).getRun(RUN_ID).catch((e: unknown) => e)) as APIError;
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.code).toBeUndefined();
    expect(error.message).toContain("Bad Gateway");
  });
});
