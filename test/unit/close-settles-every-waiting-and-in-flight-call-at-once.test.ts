import { describe, expect, it } from "vitest";
import { APIConnectionError, SignalClient } from "../../src/index.js";
import { apiError, BASE, KEY, RUN_ID, scriptedFetch } from "./helpers/scripted-fetch.js";

/** A fetch that never answers, but honours the abort signal like the real one. */
function hangingFetch(onRequest?: () => void) {
  return (request: Request) =>
    new Promise<Response>((_resolve, reject) => {
      onRequest?.();
      request.signal.addEventListener("abort", () => reject(request.signal.reason), { once: true });
    });
}

describe("close()", () => {
  // Without the fix this call settles only when the 10-minute Retry-After ends: the test times out.
  it("settles a call waiting out a Retry-After at once, with APIConnectionError", async () => {
    let sent!: () => void;
    const first = new Promise<void>((resolve) => (sent = resolve));
    const { fetch } = scriptedFetch([
      () => {
        sent();
        return apiError(503, "overloaded_error", "overloaded", "busy", { "retry-after": "600" });
      },
    ]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 3 });
    const call = client.getRun(RUN_ID);
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    await expect(call).rejects.toBeInstanceOf(APIConnectionError);
  });

  it("settles a call waiting out a computed backoff, from a child client on the shared pool", async () => {
    const { fetch, seen } = scriptedFetch([apiError(500, "api_error", "internal")]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const training = client.training(RUN_ID, { backoff: { initialDelay: 600_000, maxDelay: 600_000 } });
    const call = training.trainBatch([{ text: "a" }]);
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    await expect(call).rejects.toBeInstanceOf(APIConnectionError);
  });

  it("settles in-flight calls and the training calls queued behind them with APIConnectionError", async () => {
    let started = 0;
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: hangingFetch(() => started++) });
    const training = client.training(RUN_ID);
    const calls = [training.trainBatch([{ text: "a" }]), training.trainBatch([{ text: "b" }]), client.getRun(RUN_ID)];
    while (started < 2) await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    const outcomes = await Promise.allSettled(calls);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe("rejected");
      expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(APIConnectionError);
    }
  });

  it("settles a batchSample with APIConnectionError (not a chunk error)", async () => {
    let started = 0;
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: hangingFetch(() => started++) });
    const call = client.inference(RUN_ID, { batchSize: 1, concurrency: 2 }).batchSample(["a", "b", "c"]);
    while (started < 2) await new Promise((resolve) => setImmediate(resolve));
    await client.close();
    await expect(call).rejects.toBeInstanceOf(APIConnectionError);
  });
});
