import { describe, expect, it } from "vitest";
import { QA, call, useTestServer } from "./helpers.js";

const fixture = useTestServer();

describe("training through the server", () => {
  it("makes the loss fall and the greedy answers right after a few dozen steps on Q→A pairs", async () => {
    const created = await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-base", learning_rate: 0.02, seed: 1 } });
    const runId = created.body.run_id as string;
    const prompts = QA.map((q) => q.prompt);
    const answers = QA.map((q) => q.completion.trim());
    const greedy = async () =>
      (
        (await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts, max_tokens: 8, temperature: 0, stop: ["\n"] } })).body.samples as {
          text: string;
        }[]
      ).map((s) => s.text.trim());

    expect(await greedy()).not.toEqual(answers);
    const losses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const step = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
      expect(step.status).toBe(200);
      losses.push(step.body.loss as number);
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 4);
    expect(await greedy()).toEqual(answers);
  });
});
