import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotFoundError, SignalClient } from "../../src/index.js";
import { QA, useTestServer } from "./helpers.js";

let client: SignalClient;
const fixture = useTestServer();
beforeAll(async () => {
  client = new SignalClient({ strictResponseValidation: true, apiKey: fixture.server.key, baseUrl: fixture.server.url });
});
afterAll(async () => {
  await client?.close();
});

describe("the SDK against the local server", () => {
  it("trains, checkpoints, samples, restores and deletes a run", async () => {
    const run = await client.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02 });
    const training = run.training();
    const epoch = await training.trainEpoch([QA, QA, QA], { progress: false });
    expect(epoch.steps).toBe(3);
    const fb = await run.forwardBackward(QA);
    expect(fb.accumulated_calls).toBe(1);
    expect((await run.optimStep()).step).toBe(4);
    const checkpoint = await run.saveState({ mode: "state" });
    expect(checkpoint.step).toBe(4);

    const inference = run.inference({ step: 4 });
    const texts = await inference.sample([QA[0]!.prompt], { max_tokens: 8, temperature: 0 });
    expect(texts).toEqual(await run.sample([QA[0]!.prompt], { max_tokens: 8, temperature: 0 }));
    const chunks: string[] = [];
    for await (const chunk of inference.streamSample(QA[0]!.prompt, { max_tokens: 8, temperature: 0 })) chunks.push(chunk.delta);
    expect(chunks.join("")).toBe(texts[0]);

    const bytes = await run.downloadCheckpoint(4);
    expect(bytes.length).toBeGreaterThan(1000);
    await run.trainStep(QA);
    expect((await run.restore(4)).restored_optimizer).toBe(true);
    expect((await client.getRun(run.run_id)).current_step).toBe(4);

    const listed: string[] = [];
    for await (const r of client.listRuns()) listed.push(r.run_id);
    expect(listed).toContain(run.run_id);
    await run.delete();
    await expect(client.getRun(run.run_id)).rejects.toBeInstanceOf(NotFoundError);
  });
});
