// The example app's tests: the happy path on the real reference server (createLocalServer),
// and every error the app must handle on the contract mock (createMockServer).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RateLimitError, SignalClient } from "../../../src/index.js";
import { type MockServer, createLocalServer, createMockServer } from "../../../src/testing/index.js";
import { JobError, fineTuneAndEvaluate, findRun } from "./fine-tune-app.js";

// Starting Prism or the engine takes a few seconds, more on a busy machine: generous timeouts
// here keep these tests independent of the runner's defaults (vitest's are 5 s and 10 s).
const START_TIMEOUT = 60_000;

const job = {
  id: "colours-1",
  pairs: [
    { prompt: "Q: red?\nA:", completion: " apple" },
    { prompt: "Q: blue?\nA:", completion: " sky" },
  ],
  steps: 40,
};

describe("on the local server", () => {
  it("fine-tunes the default model until it answers every prompt, and checkpoints it", async () => {
    await using local = await createLocalServer();
    await using client = new SignalClient({ baseUrl: local.url, apiKey: local.apiKey });

    const report = await fineTuneAndEvaluate(client, job);

    expect(report.baseModel).toBe("signal-byte-tiny");
    expect(report.answers.map((a) => a.trim())).toEqual(["apple", "sky"]);
    expect(report.correct).toBe(2);
    expect(report.checkpointStep).toBe(job.steps);
    expect(await findRun(client, report.runId)).toMatchObject({ run_id: report.runId, current_step: job.steps });
  }, 120_000);
});

describe("on the contract mock", () => {
  let mock: MockServer;
  let client: SignalClient;
  beforeAll(async () => {
    mock = await createMockServer();
    client = new SignalClient({ baseUrl: mock.url, apiKey: mock.apiKey, maxRetries: 2 });
  }, START_TIMEOUT);
  afterEach(() => mock.reset());
  afterAll(async () => {
    await client?.close();
    await mock?.close();
  }, START_TIMEOUT);

  it("reports a refused API key as bad credentials (401)", async () => {
    await using wrongKey = new SignalClient({ baseUrl: mock.url, apiKey: "sk-not-the-key" });
    const error = await fineTuneAndEvaluate(wrongKey, job).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobError);
    expect(error).toMatchObject({ reason: "bad_credentials" });
    expect(mock.requests().map((r) => [r.operationId, r.status])).toEqual([["listModels", 401]]);
  });

  it("treats a run the service no longer has as absent (404)", async () => {
    mock.respondWith("getRun", { status: 404, code: "run_not_found", message: "No run run_gone1234 for this API key.", param: "run_id" });
    expect(await findRun(client, "run_gone1234")).toBeNull();
    expect(mock.requests("getRun")).toMatchObject([{ path: "/v1/runs/run_gone1234", status: 404 }]);
  });

  it("tells the user to pick a new job id when the id was used with other settings (409 idempotency_key_reused)", async () => {
    mock.respondWith("createRun", { status: 409, code: "idempotency_key_reused" });
    const error = await fineTuneAndEvaluate(client, job).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: "job_id_reused", message: expect.stringContaining("colours-1") });
    // Not retried: a reused key is not a transient conflict.
    const creates = mock.requests("createRun");
    expect(creates).toHaveLength(1);
    expect(creates[0]!.headers["idempotency-key"]).toBe("job-colours-1");
  });

  it("names the setting the service refused (422)", async () => {
    mock.respondWith("createRun", { status: 422, code: "validation_error", message: "learning_rate: must be at most 1", param: "learning_rate" });
    const error = await fineTuneAndEvaluate(client, job).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: "bad_settings", message: expect.stringContaining("learning_rate") });
  });

  it("rides out rate limiting within the SDK's retries (429 twice, then answered)", async () => {
    mock.respondWith("sample", { status: 429, retryAfter: 0, times: 2 });
    const report = await fineTuneAndEvaluate(client, { ...job, steps: 1 });
    expect(report.answers.length).toBeGreaterThan(0); // the spec's example samples
    expect(mock.requests("sample").map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it("surfaces RateLimitError once the SDK's retries are used up (429 three times)", async () => {
    mock.respondWith("sample", { status: 429, retryAfter: 0, times: 3 });
    const error = await fineTuneAndEvaluate(client, { ...job, steps: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect(mock.requests("sample").map((r) => r.status)).toEqual([429, 429, 429]);
  });

  it("reports an overloaded service as busy after the SDK's retries (503)", async () => {
    mock.respondWith("trainStep", { status: 503, retryAfter: 0 });
    const error = await fineTuneAndEvaluate(client, job).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: "service_busy" });
    expect(mock.requests("trainStep").map((r) => r.status)).toEqual([503, 503, 503]);
  });
});
