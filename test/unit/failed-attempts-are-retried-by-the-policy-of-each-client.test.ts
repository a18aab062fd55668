import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  APIConnectionError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  RateLimitError,
  SignalClient,
  AuthenticationError,
  UnprocessableEntityError,
} from "../../src/index.js";
import { BASE, KEY, RUN_ID, apiError, fbResult, json, run, sampleResponse, scriptedFetch } from "./helpers/scripted-fetch.js";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Runs `promise` to completion while fake time advances. */
async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  await vi.runAllTimersAsync();
  return outcome;
}

const batch = [{ text: "hello" }];

describe("the simple client", () => {
  it("retries a 503 twice with growing delays (0.5 s·2ⁿ with jitter), then succeeds", async () => {
    const { fetch, seen } = scriptedFetch([apiError(503, "overloaded_error", "overloaded"), apiError(500, "api_error", "internal_error"), json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { value, error } = await settle(client.getRun(RUN_ID));
    expect(error).toBeUndefined();
    expect(value?.run_id).toBe(RUN_ID);
    expect(seen).toHaveLength(3);
    const first = seen[1]!.at - seen[0]!.at;
    const second = seen[2]!.at - seen[1]!.at;
    expect(first).toBeGreaterThanOrEqual(250);
    expect(first).toBeLessThanOrEqual(500);
    expect(second).toBeGreaterThanOrEqual(500);
    expect(second).toBeLessThanOrEqual(1000);
  });

  it("gives up after maxRetries and throws the mapped error of the last attempt", async () => {
    const { fetch, seen } = scriptedFetch([apiError(502, "api_error", "bad_gateway")]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 1 });
    const { error } = await settle(client.getRun(RUN_ID));
    expect(error).toBeInstanceOf(InternalServerError);
    expect((error as InternalServerError).status).toBe(502);
    expect(seen).toHaveLength(2);
  });

  it("honours Retry-After in seconds before the computed delay", async () => {
    const { fetch, seen } = scriptedFetch([apiError(429, "rate_limit_error", "rate_limited", "slow down", { "retry-after": "3" }), json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    await settle(client.getRun(RUN_ID));
    expect(seen[1]!.at - seen[0]!.at).toBe(3000);
  });

  it("honours Retry-After as an HTTP date", async () => {
    vi.setSystemTime(new Date("2026-01-01T00:00:00Z"));
    const retryAt = new Date("2026-01-01T00:00:02Z").toUTCString();
    const { fetch, seen } = scriptedFetch([apiError(503, "overloaded_error", "overloaded", "busy", { "retry-after": retryAt }), json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    await settle(client.getRun(RUN_ID));
    expect(seen[1]!.at - seen[0]!.at).toBe(2000);
  });

  it("retries a connection error and 408/504", async () => {
    const { fetch, seen } = scriptedFetch([new TypeError("fetch failed"), apiError(408, "api_error", "timeout"), json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { value } = await settle(client.getRun(RUN_ID));
    expect(value?.run_id).toBe(RUN_ID);
    expect(seen).toHaveLength(3);
  });

  it("throws APIConnectionError with the network error as cause once retries run out", async () => {
    const cause = new TypeError("fetch failed");
    const { fetch, seen } = scriptedFetch([cause]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 2 });
    const { error } = await settle(client.getRun(RUN_ID));
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as Error).cause).toBe(cause);
    expect(seen).toHaveLength(3);
  });

  it.each([
    [400, "invalid_request_error", "context_length_exceeded", BadRequestError],
    [401, "authentication_error", "invalid_api_key", AuthenticationError],
    [404, "not_found_error", "run_not_found", NotFoundError],
    [422, "invalid_request_error", "validation_error", UnprocessableEntityError],
  ] as const)("never retries a %i", async (status, type, code, ErrorClass) => {
    const { fetch, seen } = scriptedFetch([apiError(status, type, code), json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { error } = await settle(client.getRun(RUN_ID));
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({ status, type, code, requestId: `req_${status}` });
    expect(seen).toHaveLength(1);
  });

  it("retries 409 conflict_retryable but not 409 nothing_accumulated", async () => {
    const retryable = scriptedFetch([apiError(409, "conflict_error", "conflict_retryable"), json(200, { step: 1, learning_rate: 0.1, grad_norm: 1 })]);
    const a = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: retryable.fetch });
    expect((await settle(a.optimStep(RUN_ID))).value?.step).toBe(1);
    expect(retryable.seen).toHaveLength(2);

    const fatal = scriptedFetch([apiError(409, "conflict_error", "nothing_accumulated"), json(200, { step: 1, learning_rate: 0.1, grad_norm: 1 })]);
    const b = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: fatal.fetch });
    const { error } = await settle(b.optimStep(RUN_ID));
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).code).toBe("nothing_accumulated");
    expect(fatal.seen).toHaveLength(1);
  });
});

describe("the inference client", () => {
  it("retries at once, with no delay between attempts", async () => {
    const { fetch, seen } = scriptedFetch([
      apiError(503, "overloaded_error", "overloaded"),
      apiError(500, "api_error", "internal_error"),
      sampleResponse(["a"]),
    ]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { value } = await settle(client.inference(RUN_ID).sample(["a"]));
    expect(value).toEqual(["out:a"]);
    expect(seen.map((s) => s.at - seen[0]!.at)).toEqual([0, 0, 0]);
  });

  it("stops after its own maxRetries (2 by default)", async () => {
    const { fetch, seen } = scriptedFetch([apiError(500, "api_error", "internal_error")]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { error } = await settle(client.inference(RUN_ID).sample(["a"]));
    expect(error).toBeInstanceOf(InternalServerError);
    expect(seen).toHaveLength(3);
  });
});

describe("the training client", () => {
  it("retries three times with delays that grow past the simple client's cap", async () => {
    const { fetch, seen } = scriptedFetch([
      apiError(503, "overloaded_error", "overloaded"),
      apiError(503, "overloaded_error", "overloaded"),
      apiError(503, "overloaded_error", "overloaded"),
      json(200, fbResult),
    ]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { value } = await settle(client.training(RUN_ID).forwardBackward(batch));
    expect(value?.loss).toBe(2.5);
    const gaps = seen.slice(1).map((s, i) => s.at - seen[i]!.at);
    expect(gaps).toHaveLength(3);
    expect(gaps[0]).toBeGreaterThanOrEqual(500);
    expect(gaps[2]).toBeGreaterThanOrEqual(2000);
    expect(gaps[2]).toBeLessThanOrEqual(4000);
    expect(gaps[0]!).toBeLessThan(gaps[2]!);
  });

  it("takes a backoff override, so a local loop can retry in milliseconds", async () => {
    const { fetch, seen } = scriptedFetch([
      apiError(503, "overloaded_error", "overloaded"),
      apiError(503, "overloaded_error", "overloaded"),
      json(200, fbResult),
    ]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const training = client.training(RUN_ID, { backoff: { initialDelay: 10, maxDelay: 20 } });
    const { value } = await settle(training.forwardBackward(batch));
    expect(value?.loss).toBe(2.5);
    const gaps = seen.slice(1).map((s, i) => s.at - seen[i]!.at);
    expect(gaps).toHaveLength(2);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(20);
  });

  it("throws RateLimitError when a 429 outlasts every retry", async () => {
    const { fetch, seen } = scriptedFetch([apiError(429, "rate_limit_error", "rate_limited", "slow", { "retry-after": "1" })]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { error } = await settle(client.training(RUN_ID, { maxRetries: 1 }).trainBatch(batch));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(seen).toHaveLength(2);
  });
});
