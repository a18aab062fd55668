import { describe, expect, it } from "vitest";
import { BadRequestError, SequenceBrokenError, SignalClient, type Batch } from "../../src/index.js";
import { QA, useTestClient, useTestServer } from "./helpers.js";

const fixture = useTestServer();
const sdk = useTestClient(fixture, { strictResponseValidation: true });

const batches: Batch[] = Array.from({ length: 12 }, (_, i) => [QA[i % QA.length]!, QA[(i + 1) % QA.length]!]);
/** A sdk.client whose network delivers each window of 8 train_step calls in reverse order: the later a call, the sooner it arrives. */
function reversingClient(): SignalClient {
  let sent = 0;
  return new SignalClient({
    apiKey: fixture.server.key,
    baseUrl: fixture.server.url,
    fetch: async (request) => {
      if (request.url.endsWith("/train_step")) await new Promise((r) => setTimeout(r, (8 - (sent++ % 8)) * 15));
      return fetch(request);
    },
  });
}

const newRun = (seed: number) => sdk.client.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02, seed });

describe("pipelined TrainingClient calls against the local server", () => {
  it("12 un-awaited trainBatch calls apply in call order, each once, with the losses of the same calls awaited one by one", async () => {
    const serialRun = await newRun(11);
    const serial = sdk.client.training(serialRun.run_id, { maxInFlight: 1 });
    const serialLosses: number[] = [];
    for (const batch of batches) serialLosses.push((await serial.trainBatch(batch)).loss);

    const reversing = reversingClient();
    const pipelinedRun = await reversing.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02, seed: 11 });
    const pipelined = reversing.training(pipelinedRun.run_id);
    const results = await Promise.all(batches.map((batch) => pipelined.trainBatch(batch)));
    expect(results.map((r) => r.step)).toEqual(batches.map((_, i) => i + 1));
    expect(results.map((r) => r.loss)).toEqual(serialLosses);
    expect(pipelined.getMetrics().loss_history).toEqual(serialLosses);
    expect((await pipelinedRun.refresh()).current_step).toBe(12);
    await reversing.close();
  });

  it("two clients pipelining on one run: each one's calls apply in its own call order, the two interleaved", async () => {
    const run = await newRun(14);
    const reversing = reversingClient();
    const [a, b] = [sdk.client.training(run.run_id), reversing.training(run.run_id)];
    const calls = batches.slice(0, 6).flatMap((batch) => [a.trainBatch(batch), b.trainBatch(batch)]);
    const steps = (await Promise.all(calls)).map((r) => r.step);
    const ofA = steps.filter((_, i) => i % 2 === 0);
    const ofB = steps.filter((_, i) => i % 2 === 1);
    for (const own of [ofA, ofB]) expect(own).toEqual([...own].sort((x, y) => x - y));
    expect([...steps].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    await reversing.close();
  });

  it("a call the server refuses: the un-awaited calls after it are not applied (SequenceBrokenError), and the next call applies", async () => {
    const run = await newRun(12);
    const training = sdk.client.training(run.run_id);
    const first = training.forwardBackward(QA);
    // An RL loss without the sampler's logprobs: the server refuses it (400 naming the field).
    const refused = training.forwardBackward([{ tokens: [256, 49, 50], advantages: [0, 1, 1] }], { loss_fn: "importance_sampling" });
    const after = [training.optimStep(), training.trainBatch(QA), training.zeroGrad()];
    await expect(first).resolves.toMatchObject({ step: 0 });
    await expect(refused).rejects.toMatchObject({ constructor: BadRequestError, param: "batch[0].logprobs" });
    for (const call of after) {
      const error = await call.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SequenceBrokenError);
      expect((error as SequenceBrokenError).cause).toBeInstanceOf(BadRequestError);
    }
    expect((await run.refresh()).current_step).toBe(0);
    // A call made after the failure was reported starts a new sequence: the first gradient is still there.
    await expect(training.optimStep()).resolves.toMatchObject({ step: 1 });
  });

  it("forwardBackward takes loss_fn and loss_fn_config from every sdk.client", async () => {
    const run = await newRun(13);
    const { tokens } = await sdk.client.tokenize("signal-byte-tiny", "Q: red?\nA: apple\n", { add_bos: true });
    const { logprobs } = await sdk.client.forward(run.run_id, [{ tokens }]);
    const example = { tokens, logprobs: logprobs[0]!.map((lp) => lp ?? 0), advantages: tokens.map(() => 1) };
    // At the sampler's own weights every ratio is 1 (to ~1e-4), so the IS loss is -mean(A) = -1.
    const is = await sdk.client.training(run.run_id).forwardBackward([example], { loss_fn: "importance_sampling" });
    expect(is.loss).toBeCloseTo(-1, 3);
    const ppo = await run.forwardBackward([example], { loss_fn: "ppo", loss_fn_config: { clip_low_threshold: 0.9, clip_high_threshold: 1.1 } });
    expect(ppo.loss).toBeCloseTo(-1, 3);
    const ce = await sdk.client.forwardBackward(run.run_id, [{ tokens }], { maxRetries: 0 });
    expect(ce.loss).toBeGreaterThan(0);
    await expect(sdk.client.forwardBackward(run.run_id, [{ text: "abc" }], { loss_fn: "ppo" }, { maxRetries: 0 })).rejects.toMatchObject({
      status: 400,
      param: "batch[0]",
    });
  });
});
