import { describe, expect, it } from "vitest";
import { APIUserAbortError, BadRequestError, SequenceBrokenError, SignalClient, ValidationError } from "../../src/index.js";
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

/** A server that answers nothing until `count` requests are on the wire, then answers them in reverse. */
function gatheringServer(count: number) {
  const seen: SeenRequest[] = [];
  let most = 0;
  let open = 0;
  const waiting: Array<() => void> = [];
  const script = scriptedFetch([
    async (_request: Request, entry: SeenRequest) => {
      seen.push(entry);
      open++;
      most = Math.max(most, open);
      const answered = new Promise<void>((resolve) => waiting.push(resolve));
      if (waiting.length === count) for (const go of waiting.splice(0).reverse()) go();
      await answered;
      open--;
      return json(200, trainStepResult(seen.indexOf(entry) + 1, 1 + seen.indexOf(entry) / 10));
    },
  ]);
  return { fetch: script.fetch, seen, most: () => most };
}

const positionOf = (request: SeenRequest) => request.headers.get("signal-sequence")!.split(":");

describe("TrainingClient ordering", () => {
  it("with maxInFlight 1, un-awaited calls reach the server one at a time in call order", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID, { maxInFlight: 1 });
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

  it("un-awaited calls are on the wire together, each with its position in call order, and settle in call order", async () => {
    const server = gatheringServer(5);
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const settled: number[] = [];
    const calls = [0, 1, 2, 3, 4].map((i) => training.trainBatch([{ text: `b${i}` }]).then(() => settled.push(i)));
    await Promise.all(calls);
    expect(server.most()).toBe(5);
    const ids = new Set(server.seen.map((r) => positionOf(r)[0]));
    expect(ids.size).toBe(1);
    const byPosition = server.seen.map((r) => [Number(positionOf(r)[1]), JSON.parse(r.body).batch[0].text]);
    expect(byPosition.sort((a, b) => a[0] - b[0])).toEqual([0, 1, 2, 3, 4].map((i) => [i, `b${i}`]));
    // the server answered the last call first; the promises still settle in call order
    expect(settled).toEqual([0, 1, 2, 3, 4]);
  });

  it("keeps at most maxInFlight calls on the wire", async () => {
    const server = gatheringServer(3);
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID, { maxInFlight: 3 });
    await Promise.all(Array.from({ length: 9 }, (_, i) => training.trainBatch([{ text: `b${i}` }])));
    expect(server.seen).toHaveLength(9);
    expect(server.most()).toBe(3);
    expect(server.seen.map((r) => Number(positionOf(r)[1])).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => new SignalClient({ apiKey: KEY, baseUrl: BASE }).training(RUN_ID, { maxInFlight: 0 })).toThrow("maxInFlight must be an integer >= 1, got 0.");
  });

  it("a failed call: the calls made before its failure was reported are not sent, and the next call starts a new sequence", async () => {
    const server = reorderingServer();
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID, { maxInFlight: 1 });
    const failing = training.forwardBackward([{ text: "bad" }]);
    const skipped = training.optimStep();
    await expect(failing).rejects.toBeInstanceOf(BadRequestError);
    const error = await skipped.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SequenceBrokenError);
    expect((error as SequenceBrokenError).cause).toBeInstanceOf(BadRequestError);
    expect(server.arrived).toEqual(["forward_backward"]);
    // awaited one at a time, as before: a failure rejects alone
    await expect(training.forwardBackward([{ text: "good" }])).resolves.toMatchObject({ loss: 2 });
    const [first, second] = server.seen.map((r) => r.headers.get("signal-sequence")!.split(":"));
    expect(second![0]).not.toBe(first![0]);
    expect(second![1]).toBe("0");
  });

  it("a call the SDK refuses before sending takes no position and the calls after it are not sent", async () => {
    const server = gatheringServer(1);
    const training = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: server.fetch }).training(RUN_ID);
    const ok = training.trainBatch([{ text: "a" }]);
    const refused = training.trainBatch([{ text: 5 }] as never);
    const after = training.trainBatch([{ text: "c" }]);
    await expect(ok).resolves.toMatchObject({ step: 1 });
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(after).rejects.toMatchObject({ name: "SequenceBrokenError", cause: expect.any(ValidationError) });
    expect(server.seen.map((r) => JSON.parse(r.body).batch[0].text)).toEqual(["a"]);
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
    expect(training.getMetrics()).toEqual({
      current_step: null,
      avg_loss: null,
      last_loss: null,
      loss_history: [],
      grad_norm_history: [],
      tokens_processed: 0,
    });
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
