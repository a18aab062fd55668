import { describe, expect, it } from "vitest";
import {
  AsyncInferenceClient,
  AsyncTrainingClient,
  NotFoundError,
  RateLimitError,
  ConflictError,
  SignalClient,
  SignalRun,
  requestIdOf,
} from "../../src/index.js";
import { suiteTarget } from "./suite-target.js";

// The Prism mock of openapi/signal.yaml, read strictly; the newer-server test runs this same
// suite against a Prism of a newer spec with the default (tolerant) reader.
const { baseUrl, strictResponseValidation } = suiteTarget();
const apiKey = "sk-prism-test-key";
const RUN = "run_8f3a2c1d9e7b4a60";
const batch = [{ prompt: "Q: capital of France?\nA:", completion: " Paris" }];

function client(): SignalClient {
  return new SignalClient({ strictResponseValidation, apiKey, baseUrl, maxRetries: 0 });
}

describe("SignalClient against Prism", () => {
  it("getHealth and listModels", async () => {
    const c = client();
    expect(await c.getHealth()).toMatchObject({ status: "ok" });
    const models = await c.listModels();
    expect(models.data[0]).toMatchObject({ id: "signal-byte-base", default: true });
    expect(requestIdOf(models)).toEqual(expect.any(String));
  });

  it("createRun returns a SignalRun with the run's fields; getRun, deleteRun", async () => {
    const c = client();
    const run = await c.createRun({ base_model: "signal-byte-base", lora_r: 8, lora_alpha: 16, learning_rate: 5e-4 });
    expect(run).toBeInstanceOf(SignalRun);
    expect(run.run_id).toBe(RUN);
    expect(run.current_step).toBe(0);
    expect((await c.getRun(RUN)).base_model).toBe("signal-byte-base");
    expect(await c.deleteRun(RUN)).toMatchObject({ deleted: true, run_id: RUN });
  });

  it("createRun with a name and metadata; updateRun and run.update; listRuns filtered by base model and name", async () => {
    const c = client();
    const run = await c.createRun({ base_model: "signal-byte-base", name: "support-bot-v1", metadata: { project: "support-bot" } });
    expect(run.name).toBe("support-bot-v1");
    const updated = await c.updateRun(RUN, { name: "support-bot-v2", metadata: { stage: "eval" } });
    expect(updated).toBeInstanceOf(SignalRun);
    expect(await run.update({ name: null })).toBe(run);
    const page = await c.listRuns({ base_model: "signal-byte-base", name: "support-bot-v1" });
    expect(page.data.map((r) => r.name)).toEqual(["support-bot-v1"]);
  });

  it("listRuns is awaitable for the first page and iterable over every run", async () => {
    const c = client();
    const page = await c.listRuns({ limit: 10 });
    expect(page).toMatchObject({ object: "list", has_more: false });
    const ids: string[] = [];
    for await (const run of c.listRuns()) ids.push(run.run_id);
    expect(ids).toEqual([RUN]);
  });

  it("forwardBackward, optimStep, trainStep, zeroGrad, listMetrics", async () => {
    const c = client();
    expect(await c.forwardBackward(RUN, batch)).toMatchObject({
      loss: expect.any(Number),
      grad_norm: expect.any(Number),
      num_tokens: expect.any(Number),
      num_examples: 2,
      step: 0,
    });
    expect(await c.optimStep(RUN, { learning_rate: 1e-4 })).toMatchObject({ step: 1, learning_rate: 1e-4 });
    expect(await c.trainStep(RUN, batch)).toMatchObject({ step: 1, loss: expect.any(Number) });
    expect(await c.zeroGrad(RUN)).toMatchObject({ discarded_calls: 2 });
    const metrics: number[] = [];
    for await (const m of c.listMetrics(RUN)) metrics.push(m.step);
    expect(metrics).toEqual([1]);
  });

  it("sample returns one string per completion", async () => {
    expect(await client().sample(RUN, ["Q: capital of France?\nA:"], { max_tokens: 16, temperature: 0 })).toEqual([" Paris"]);
  });

  it("saveState, listCheckpoints, getCheckpoint, restoreCheckpoint, downloadCheckpoint, deleteCheckpoint", async () => {
    const c = client();
    expect(await c.saveState(RUN, { mode: "adapter" })).toMatchObject({
      checkpoint_id: expect.any(String),
      run_id: RUN,
      step: 100,
      mode: "adapter",
      size_bytes: expect.any(Number),
      created_at: expect.any(String),
    });
    expect((await c.listCheckpoints(RUN)).data.map((cp) => cp.step)).toEqual([100]);
    expect((await c.getCheckpoint(RUN, 100)).step).toBe(100);
    expect(await c.restoreCheckpoint(RUN, 100)).toMatchObject({ step: 100, restored_optimizer: true });
    const bytes = await c.downloadCheckpoint(RUN, 100);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(await c.deleteCheckpoint(RUN, 100)).toMatchObject({ deleted: true });
  });

  it("maps the mock's error responses to the error tree", async () => {
    const c = client();
    const notFound = await c.getCheckpoint(RUN, 7, { headers: { Prefer: "code=404" } }).catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(notFound).toMatchObject({ status: 404, code: "checkpoint_not_found", type: "not_found_error" });
    expect((notFound as Error).message).toContain("checkpoints exist at steps");
    const conflict = await c.optimStep(RUN, {}, { headers: { Prefer: "code=409" } }).catch((e: unknown) => e);
    expect(conflict).toMatchObject({ name: "ConflictError", code: "nothing_accumulated" });
    expect(conflict).toBeInstanceOf(ConflictError);
    const limited = await c.getRun(RUN, { headers: { Prefer: "code=429" } }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitError);
  });
});

describe("SignalRun against Prism", () => {
  it("binds the simple API to its run", async () => {
    const c = client();
    const run = await c.getRun(RUN);
    expect((await run.forwardBackward(batch)).num_examples).toBe(2);
    expect((await run.optimStep()).step).toBe(1);
    expect((await run.trainBatch(batch)).step).toBe(1);
    expect((await run.zeroGrad()).discarded_calls).toBe(2);
    expect(await run.sample(["Q"], { temperature: 0 })).toEqual([" Paris"]);
    expect((await run.saveState({ mode: "state" })).step).toBe(100);
    expect((await run.listCheckpoints()).data).toHaveLength(1);
    expect(await run.downloadCheckpoint(100)).toBeInstanceOf(Uint8Array);
    expect((await run.restore(100)).step).toBe(100);
    expect(await run.refresh()).toBe(run);
    expect((await run.delete()).deleted).toBe(true);
  });
});

describe("TrainingClient against Prism", () => {
  it("every method, then close", async () => {
    const c = client();
    const run = await c.getRun(RUN);
    const training = run.training({ maxRetries: 0 });
    const fb = await training.forwardBackward(batch);
    if (fb.grad_norm < 100) await training.optimStep({ max_grad_norm: 1 });
    await training.zeroGrad();
    expect((await training.trainBatch(batch, { learning_rate: 1e-4 })).step).toBe(1);
    const epoch = await training.trainEpoch([batch, batch], { progress: false });
    expect(epoch).toMatchObject({ steps: 2, num_tokens: 14 });
    expect((await training.saveCheckpoint({ mode: "adapter" })).mode).toBe("adapter");
    expect((await training.restore(100)).step).toBe(100);
    expect((await training.listMetrics()).data).toHaveLength(1);
    const metrics = training.getMetrics();
    expect(metrics.loss_history).toHaveLength(4);
    expect(metrics.current_step).toBe(100);
    // forward, the loss function (shaped by the batch: Prism's logprobs are its example's), then a linear backward.
    const custom = await training.forwardBackwardCustom([{ tokens: [256, 81, 58] }], (_logprobs, b) => ({
      loss: 0.5,
      grads: b.map((e) => e.tokens.map(() => -0.5)),
    }));
    expect(custom).toMatchObject({ loss: 0.5, logprobs: expect.any(Array), grad_norm: expect.any(Number) });
    expect(training.getMetrics().loss_history).toHaveLength(5);
    await training.close();
    // closing a child leaves the parent usable
    expect((await c.getHealth()).status).toBe("ok");
  });

  it("AsyncTrainingClient works standalone with await using", async () => {
    await using training = new AsyncTrainingClient({ strictResponseValidation, runId: RUN, apiKey, baseUrl, maxRetries: 0 });
    const result = await training.trainBatch(batch);
    expect(result.loss).toEqual(expect.any(Number));
    await training.saveCheckpoint({ mode: "adapter" });
  });
});

describe("InferenceClient against Prism", () => {
  it("sample, sampleDetailed, batchSample, embeddings, cache", async () => {
    const inference = client().inference(RUN, { step: 100, batchSize: 1, maxRetries: 0 });
    expect(await inference.sample(["Q"], { temperature: 0 })).toEqual([" Paris"]);
    const detailed = await inference.sampleDetailed(["Q"], { temperature: 0 });
    expect(detailed).toMatchObject({ object: "sample", step: 100, usage: { prompt_tokens: 24 } });
    // the mock answers one sample per request whatever the prompts, so one prompt per chunk
    expect(await inference.batchSample(["a", "b", "c"], { temperature: 0 })).toEqual([" Paris", " Paris", " Paris"]);
    expect(await inference.embeddings(["The quick brown fox."])).toEqual([[0.0123, -0.4411, 0.2087, 0.0915]]);
    inference.enableCache({ maxEntries: 10 });
    await inference.sample(["Q"], { temperature: 0 });
    await inference.sample(["Q"], { temperature: 0 });
    expect(inference.getCacheStats()).toMatchObject({ cache_size: 1, hits: 1, misses: 1, enabled: true });
  });

  it("AsyncInferenceClient runs several batchSample calls at once", async () => {
    await using inference = new AsyncInferenceClient({ strictResponseValidation, runId: RUN, apiKey, baseUrl, batchSize: 1, maxRetries: 0 });
    const results = await Promise.all([inference.batchSample(["a", "b"]), inference.batchSample(["c"]), inference.batchSample(["d", "e", "f"])]);
    expect(results.map((r) => r.length)).toEqual([2, 1, 3]);
  });
});
