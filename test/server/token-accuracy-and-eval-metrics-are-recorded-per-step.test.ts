import { describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import type { EpochStep, Metric } from "../../src/index.js";
import { QA, call, conform, createTinyRun, useTestClient, useTestServer } from "./helpers.js";

const fixture = useTestServer();
const sdk = useTestClient(fixture);

/** Held out: the same kind of Q→A pairs, not trained on. */
const HELD_OUT = [
  { prompt: "Q: white?\nA:", completion: " snow\n" },
  { prompt: "Q: black?\nA:", completion: " coal\n" },
];

async function metricsOf(runId: string): Promise<Metric[]> {
  const rows: Metric[] = [];
  for await (const row of sdk.client.listMetrics(runId)) rows.push(row);
  return rows;
}

describe("token_accuracy", () => {
  it("is the argmax accuracy on the weighted target tokens: reported by train_step and forward, recorded per step, rising as the model learns", async () => {
    const runId = await createTinyRun(fixture.server);
    const results = [];
    for (let i = 0; i < 40; i++) results.push(await sdk.client.trainBatch(runId, QA));
    for (const r of results) {
      expect(r.token_accuracy).toBeGreaterThanOrEqual(0);
      expect(r.token_accuracy).toBeLessThanOrEqual(1);
    }
    const rows = await metricsOf(runId);
    expect(rows.map((m) => m.token_accuracy)).toEqual(results.map((r) => r.token_accuracy));
    // Memorising the pairs: the model ends up predicting most target tokens.
    expect(results.at(-1)!.token_accuracy!).toBeGreaterThan(results[0]!.token_accuracy! + 0.3);
    // forward on the same weights agrees that the trained answers are mostly argmax.
    const forward = await sdk.client.forward(runId, QA);
    expect(forward.token_accuracy).toBeGreaterThan(0.5);
    // Greedy sampling gives back a trained answer exactly when its tokens are all argmax.
    const [greedy] = await sdk.client.sample(runId, [QA[0]!.prompt], { max_tokens: 8, temperature: 0, stop: ["\n"] });
    const single = await sdk.client.forward(runId, [{ prompt: QA[0]!.prompt, completion: `${greedy}\n` }]);
    expect(single.token_accuracy).toBe(1);
  });
});

describe("trainEpoch with evalData and evalEvery", () => {
  it("records eval_loss and eval_token_accuracy on every evalEvery-th step and the last, evaluated with forward (nothing else changes)", async () => {
    const runId = await createTinyRun(fixture.server);
    const training = sdk.client.training(runId);
    const seen: EpochStep[] = [];
    const epoch = await training.trainEpoch([QA, QA, QA, QA, QA], {
      progress: false,
      evalData: HELD_OUT,
      evalEvery: 2,
      onStep: (step) => {
        seen.push(step);
      },
    });
    await training.close();
    expect(epoch.steps).toBe(5);
    expect(seen.map((s) => s.eval !== undefined)).toEqual([false, true, false, true, true]);
    const rows = await metricsOf(runId);
    expect(rows.map((m) => m.step)).toEqual([1, 2, 3, 4, 5]);
    for (const [i, row] of rows.entries()) {
      const evaluated = seen[i]!.eval;
      if (evaluated) {
        expect(row.eval_loss).toBe(evaluated.loss);
        expect(row.eval_token_accuracy).toBe(evaluated.token_accuracy);
      } else {
        expect(row.eval_loss).toBeUndefined();
        expect(row.eval_token_accuracy).toBeUndefined();
      }
    }
    expect(epoch.eval).toEqual(seen[4]!.eval);
    // Evaluation applied no step and accumulated nothing: the run is at step 5 with nothing pending.
    expect((await sdk.client.getRun(runId)).current_step).toBe(5);
    expect((await sdk.client.zeroGrad(runId)).discarded_calls).toBe(0);
    // The recorded eval is forward's loss on those weights.
    expect((await sdk.client.forward(runId, HELD_OUT)).loss).toBe(rows[4]!.eval_loss);
  });

  it("rejects record_eval with a checkpoint step, or before the first step, naming the field", async () => {
    const runId = await createTinyRun(fixture.server);
    const early = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: QA, record_eval: true } });
    expect(early.status).toBe(400);
    expect(conform(gen.zError, early.body).error).toMatchObject({ code: "eval_not_recordable", param: "record_eval" });
    await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: {} });
    const pinned = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: QA, step: 1, record_eval: true } });
    expect(pinned.status).toBe(400);
    expect(conform(gen.zError, pinned.body).error).toMatchObject({ code: "eval_not_recordable", param: "record_eval" });
  });
});
