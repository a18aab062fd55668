import { describe, expect, it } from "vitest";
import { AsyncTrainingClient } from "../../src/index.js";
import { QA, useTestClient, useTestServer } from "./helpers.js";

const fixture = useTestServer();
const sdk = useTestClient(fixture);

describe("the SDK against the local server", () => {
  it("batchSample with a caller's idempotencyKey sends one key per chunk (no 409 for the second chunk), and a retry replays", async () => {
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny" });
    const inference = run.inference();
    const prompts = ["a", "b", "c", "d", "e"];
    const params = { max_tokens: 2, temperature: 0, batchSize: 2 };
    const first = await inference.batchSample(prompts, params, { idempotencyKey: "batch-1" });
    expect(first).toHaveLength(5);
    expect(first._request_ids).toHaveLength(3);
    // The same call again replays each chunk's stored answer.
    const again = await inference.batchSample(prompts, params, { idempotencyKey: "batch-1" });
    expect([...again]).toEqual([...first]);
  });

  it("refresh() takes the new request id, and a TrainingClient learns a run's step from the server", async () => {
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny" });
    for (let i = 0; i < 3; i++) await run.trainBatch(QA);
    const oldId = run._request_id;
    await run.refresh();
    expect(run.current_step).toBe(3);
    expect(run._request_id).toMatch(/^req_/);
    expect(run._request_id).not.toBe(oldId);

    const training = sdk.client.training(run.run_id);
    expect(training.getMetrics().current_step).toBeNull();
    await training.zeroGrad();
    expect(training.getMetrics().current_step).toBe(3);
    const standalone = new AsyncTrainingClient({ runId: run.run_id, apiKey: fixture.server.key, baseUrl: fixture.server.url });
    await standalone.saveCheckpoint({ mode: "adapter" });
    expect(standalone.getMetrics().current_step).toBe(3);
    await standalone.close();
  });
});
