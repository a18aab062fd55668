import { describe, expect, it } from "vitest";
import { NotFoundError, ValidationError } from "../../src/index.js";
import { QA, useTestClient, useTestServer } from "./helpers.js";

const fixture = useTestServer();
const sdk = useTestClient(fixture, { strictResponseValidation: true });

describe("forward, tokenize and detokenize from the SDK", () => {
  it("tokenizes and detokenizes a model's text both ways", async () => {
    const text = "Q: 2+2?\nA: 4";
    const plain = await sdk.client.tokenize("signal-byte-tiny", text);
    expect(plain.tokens.length).toBeGreaterThan(0);
    const withBos = await sdk.client.tokenize("signal-byte-tiny", text, { add_bos: true });
    expect(withBos.tokens).toEqual([withBos.bos_token_id, ...plain.tokens]);
    expect((await sdk.client.detokenize("signal-byte-tiny", withBos.tokens)).text).toBe(text);
  });

  it("sdk.client.forward reads logprobs of the live weights and of a checkpoint, and changes neither the step nor the gradients", async () => {
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny", seed: 3 });
    await run.trainBatch(QA);
    await sdk.client.saveState(run.run_id, { mode: "adapter" });
    await run.trainBatch(QA);
    const { tokens } = await sdk.client.tokenize("signal-byte-tiny", "Q: red?\nA: apple\n", { add_bos: true });
    const live = await sdk.client.forward(run.run_id, [{ tokens }]);
    expect(live.step).toBe(2);
    expect(live.logprobs).toHaveLength(1);
    expect(live.logprobs[0]).toHaveLength(tokens.length);
    expect(live.logprobs[0]![0]).toBeNull();
    for (const lp of live.logprobs[0]!.slice(1)) expect(lp).toBeLessThanOrEqual(0);
    const atOne = await sdk.client.forward(run.run_id, [{ tokens }], { step: 1 });
    expect(atOne.step).toBe(1);
    expect(atOne.logprobs[0]).not.toEqual(live.logprobs[0]);
    // Nothing accumulated, and the run did not move.
    expect((await run.refresh()).current_step).toBe(2);
    await expect(sdk.client.optimStep(run.run_id)).rejects.toMatchObject({ status: 409 });
    await expect(sdk.client.forward(run.run_id, [{ tokens }], { step: 7 })).rejects.toBeInstanceOf(NotFoundError);
    await expect(sdk.client.forward(run.run_id, [{ tokens: "nope" as unknown as number[] }])).rejects.toBeInstanceOf(ValidationError);
  });

  it("training.forward is ordered after the calls made before it, and a checkpoint's step is not taken for the run's", async () => {
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny", seed: 4 });
    const training = sdk.client.training(run.run_id);
    await training.trainBatch(QA);
    await training.saveCheckpoint({ mode: "adapter" });
    const { tokens } = await sdk.client.tokenize("signal-byte-tiny", "Q: blue?\nA: sky\n", { add_bos: true });
    // Not awaited: the forward must still see the weights after both steps.
    void training.trainBatch(QA);
    void training.trainBatch(QA);
    const live = await training.forward([{ tokens }]);
    expect(live.step).toBe(3);
    expect(training.getMetrics().current_step).toBe(3);
    const old = await training.forward([{ tokens }], { step: 1 });
    expect(old.step).toBe(1);
    expect(training.getMetrics().current_step).toBe(3);
    await training.close();
  });
});
