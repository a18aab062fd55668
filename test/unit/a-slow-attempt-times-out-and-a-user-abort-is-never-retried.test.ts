import { describe, expect, it } from "vitest";
import { APITimeoutError, APIUserAbortError, SignalClient } from "../../src/index.js";
import { BASE, KEY, RUN_ID, json, run, scriptedFetch } from "./helpers/scripted-fetch.js";

/** A response that never comes, until the request's signal aborts it. */
function hang(request: Request): Promise<Response> {
  return new Promise((_, reject) => {
    request.signal.addEventListener("abort", () => reject(request.signal.reason), { once: true });
  });
}

describe("timeouts and aborts", () => {
  it("turns an attempt that outlives the timeout into APITimeoutError after the retries", async () => {
    const { fetch, seen } = scriptedFetch([hang]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, timeout: 20, maxRetries: 1 });
    const started = Date.now();
    const error = await client
      .inference(RUN_ID, { timeout: 20 })
      .sample(["a"])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APITimeoutError);
    expect(seen).toHaveLength(3); // inference: 2 retries by default
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("retries a timed-out attempt and succeeds when the next one answers", async () => {
    const { fetch, seen } = scriptedFetch([hang, json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, timeout: 20 });
    const result = await client.getRun(RUN_ID, { timeout: 20 });
    expect(result.run_id).toBe(RUN_ID);
    expect(seen).toHaveLength(2);
  });

  it("a per-call timeout overrides the client's", async () => {
    const { fetch } = scriptedFetch([hang]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, timeout: 60_000 });
    const error = await client.getRun(RUN_ID, { timeout: 10, maxRetries: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APITimeoutError);
  });

  it("a user abort mid-request throws APIUserAbortError and is not retried", async () => {
    const controller = new AbortController();
    const { fetch, seen } = scriptedFetch([
      (request) => {
        queueMicrotask(() => controller.abort(new Error("user stop")));
        return hang(request);
      },
    ]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const error = await client.getRun(RUN_ID, { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect((error as Error).cause).toEqual(new Error("user stop"));
    expect(seen).toHaveLength(1);
  });

  it("an already aborted signal sends nothing", async () => {
    const { fetch, seen } = scriptedFetch([json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const error = await client.getRun(RUN_ID, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect(seen).toHaveLength(0);
  });

  it("an abort during the wait between attempts ends the call at once", async () => {
    const controller = new AbortController();
    const { fetch, seen } = scriptedFetch([
      () => {
        setTimeout(() => controller.abort(), 5);
        return json(503, { error: { type: "overloaded_error", code: "overloaded", message: "busy", request_id: "r" } }, { "retry-after": "30" });
      },
    ]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const started = Date.now();
    const error = await client.getRun(RUN_ID, { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(seen).toHaveLength(1);
  });
});
