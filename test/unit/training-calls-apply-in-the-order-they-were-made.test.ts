import { describe, expect, it } from "vitest";
import { APIUserAbortError, BadRequestError, SignalClient } from "../../src/index.js";
import { BASE, KEY, RUN_ID, apiError, json, scriptedFetch, trainStepResult, type SeenRequest } from "./helpers/scripted-fetch.js";
import { recordingStream } from "./helpers/recording-stream.js";

/**
 * A server where a forward_backward takes longer to arrive than the calls after it, so without
 * the queue an optim_step made after it would be applied first.
 */
function reorderingServer() {
  const arrived: string[] = [];
  let step = 0;
  const script = scriptedFetch([
    async (_request: Request, seen: SeenRequest) => {
      const op = seen.url.split("/").pop()!;
      // forward_backward bodies are big: they take longer on the wire than anything else.
      if (op === "forward_backward") await new Promise((r) => setTimeout(r, 20));
      arrived.push(op);
      if (op === "forward_backward") {
        const loss = (JSON.parse(seen.body) as { batch: Array<{ text: string }> }).batch[0]!.text === "bad" ? undefined : 2;
        if (loss === undefined) return apiError(400, "invalid_request_error", "context_length_exceeded");
        return json(200, { loss, grad_norm: 1, num_tokens: 5, num_examples: 1, step, accumulated_calls: 1 });
      }
      if (op === "optim_step") return json(200, { step: ++step, learning_rate: 0.001, grad_norm: 1 });
      if (op === "train_step") return json(200, trainStepResult(++step, 1 + step / 10));
      return json(200, { step, discarded_calls: 0 });
    },
  ]);
  return { ...script, arrived };
}

describe("TrainingClient ordering", () => {
  it("un-awaited calls reach the server in call order", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const calls = [
      training.forwardBackward([{ text: "a" }]),
      training.optimStep(),
      training.forwardBackward([{ text: "b" }]),
      training.zeroGrad(),
      training.trainBatch([{ text: "c" }]),
    ];
    await Promise.all(calls);
    expect(server.arrived).toEqual(["forward_backward", "optim_step", "forward_backward", "zero_grad", "train_step"]);
  });

  it("a failed call rejects alone and does not wedge the queue", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const failing = training.forwardBackward([{ text: "bad" }]);
    const next = training.forwardBackward([{ text: "good" }]);
    await expect(failing).rejects.toBeInstanceOf(BadRequestError);
    await expect(next).resolves.toMatchObject({ loss: 2 });
    expect(server.arrived).toEqual(["forward_backward", "forward_backward"]);
  });

  it("close() waits for queued calls and then refuses new ones", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const pending = training.forwardBackward([{ text: "a" }]);
    await training.close();
    expect(server.arrived).toHaveLength(1);
    await expect(pending).resolves.toMatchObject({ loss: 2 });
    await expect(training.optimStep()).rejects.toThrow(/closed/);
  });
});

describe("TrainingClient metrics", () => {
  it("getMetrics tracks loss, grad norm, tokens and the step", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    expect(training.getMetrics()).toEqual({ current_step: null, avg_loss: null, last_loss: null, loss_history: [], grad_norm_history: [], tokens_processed: 0 });
    await training.forwardBackward([{ text: "a" }]);
    await training.optimStep();
    await training.trainBatch([{ text: "b" }], { learning_rate: 0.001 });
    const metrics = training.getMetrics();
    expect(metrics.current_step).toBe(2);
    expect(metrics.loss_history).toEqual([2, 1.2]);
    expect(metrics.grad_norm_history).toEqual([1, 0.5]);
    expect(metrics.avg_loss).toBeCloseTo(1.6);
    expect(metrics.last_loss).toBe(1.2);
    expect(metrics.tokens_processed).toBe(15);
    expect(JSON.parse(server.seen.at(-1)!.body)).toEqual({ learning_rate: 0.001, batch: [{ text: "b" }] });
  });

  it("trainBatch is one round trip to train_step", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const result = await training.trainBatch([{ text: "x" }]);
    expect(server.arrived).toEqual(["train_step"]);
    expect(Object.keys(result)).toEqual(expect.arrayContaining(["step", "loss", "grad_norm", "learning_rate", "num_tokens"]));
  });
});

const sink = () => recordingStream({ tty: false });

describe("trainEpoch", () => {
  it("trains every batch of an async iterable, reports each step and returns the epoch summary", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    async function* batches() {
      for (let i = 0; i < 5; i++) yield [{ text: `b${i}` }];
    }
    const seenSteps: number[] = [];
    const out = sink();
    const result = await training.trainEpoch(batches(), { progress: { stream: out.stream, every: 2 }, onStep: (s) => void seenSteps.push(s.result.step) });
    expect(seenSteps).toEqual([1, 2, 3, 4, 5]);
    expect(result.steps).toBe(5);
    expect(result.num_tokens).toBe(50);
    expect(result.avg_loss).toBeCloseTo((1.1 + 1.2 + 1.3 + 1.4 + 1.5) / 5);
    expect(result.elapsed_ms).toBeGreaterThanOrEqual(0);
    const lines = out.text().trim().split("\n");
    expect(lines).toHaveLength(3); // steps 2, 4 and the final 5
    expect(lines[0]).toMatch(/^train 2 step 2 loss 1\.2000 avg 1\.1500 \d+ tok\/s$/);
    expect(lines[2]).toMatch(/^train 5 step 5 /);
  });

  it("shows the total and an ETA when the length is known", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const out = sink();
    await training.trainEpoch([[{ text: "a" }], [{ text: "b" }]], { progress: { stream: out.stream, every: 1 } });
    expect(out.text()).toMatch(/^train 1\/2 step 1 .* eta \d+s\ntrain 2\/2 /);
  });

  it("writes nothing with progress: false", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const writes: unknown[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: unknown) => writes.push(chunk) > 0) as typeof process.stderr.write;
    try {
      await training.trainEpoch([[{ text: "a" }]], { progress: false });
    } finally {
      process.stderr.write = original;
    }
    expect(writes).toEqual([]);
  });

  it("stops between steps when its signal fires", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const controller = new AbortController();
    const batches = [[{ text: "a" }], [{ text: "b" }], [{ text: "c" }]];
    const run = training.trainEpoch(batches, { progress: false, signal: controller.signal, onStep: () => controller.abort() });
    await expect(run).rejects.toBeInstanceOf(APIUserAbortError);
    expect(server.arrived).toEqual(["train_step"]);
  });
});
