import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import type { Engine } from "../../src/server/engine/types.js";
import { QA, call, conform, createTinyRun, startTestServer, testEngine } from "./helpers.js";

let engine: Engine;
beforeAll(async () => {
  engine = await testEngine();
});
afterAll(async () => {
  await engine?.close();
});

const greedy = { prompts: QA.map((q) => q.prompt), max_tokens: 10, temperature: 0 };

describe("a restarted server on the same data directory", () => {
  it("serves the same runs, steps, metrics, checkpoints, samples and pending gradients", async () => {
    const first = await startTestServer(engine);
    const runId = await createTinyRun(first);
    for (let i = 0; i < 3; i++) await call(first, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    await call(first, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "state" } });
    await call(first, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    await call(first, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA.slice(0, 1) }, headers: { "idempotency-key": "pending-fb" } });
    const before = {
      run: (await call(first, "GET", `/v1/runs/${runId}`)).body,
      metrics: (await call(first, "GET", `/v1/runs/${runId}/metrics`)).body,
      checkpoints: (await call(first, "GET", `/v1/runs/${runId}/checkpoints`)).body,
      live: (await call(first, "POST", `/v1/runs/${runId}/sample`, { body: greedy })).body,
      atThree: (await call(first, "POST", `/v1/runs/${runId}/sample`, { body: { ...greedy, step: 3 } })).body,
    };
    await first.close();
    // Another engine instance's copy of the run must not leak into the restarted server.
    await engine.dropRun(runId);

    const second = await startTestServer(engine, { dataDir: first.dataDir });
    try {
      expect(conform(gen.zGetRunResponse, (await call(second, "GET", `/v1/runs/${runId}`)).body)).toEqual(before.run);
      expect(before.run.current_step).toBe(4);
      expect((await call(second, "GET", `/v1/runs/${runId}/metrics`)).body).toEqual(before.metrics);
      expect((await call(second, "GET", `/v1/runs/${runId}/checkpoints`)).body).toEqual(before.checkpoints);
      expect((await call(second, "POST", `/v1/runs/${runId}/sample`, { body: { ...greedy, step: 3 } })).body).toEqual(before.atThree);
      expect((await call(second, "POST", `/v1/runs/${runId}/sample`, { body: greedy })).body).toEqual(before.live);

      const replay = await call(second, "POST", `/v1/runs/${runId}/forward_backward`, {
        body: { batch: QA.slice(0, 1) },
        headers: { "idempotency-key": "pending-fb" },
      });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      const step = await call(second, "POST", `/v1/runs/${runId}/optim_step`);
      expect(step.body.step).toBe(5);
      const metrics = conform(gen.zListMetricsResponse, (await call(second, "GET", `/v1/runs/${runId}/metrics`)).body);
      expect(metrics.data.at(-1)).toMatchObject({ step: 5, num_tokens: replay.body.num_tokens });
    } finally {
      await second.dispose();
    }
  });

  it("continues training exactly like a server that never stopped", async () => {
    const steady = await startTestServer(engine);
    const restarted = await startTestServer(engine);
    try {
      const a = await createTinyRun(steady);
      const b = await createTinyRun(restarted);
      for (let i = 0; i < 2; i++) {
        await call(steady, "POST", `/v1/runs/${a}/train_step`, { body: { batch: QA } });
        await call(restarted, "POST", `/v1/runs/${b}/train_step`, { body: { batch: QA } });
      }
      await restarted.close();
      await engine.dropRun(b);
      const again = await startTestServer(engine, { dataDir: restarted.dataDir });
      try {
        const x = await call(steady, "POST", `/v1/runs/${a}/train_step`, { body: { batch: QA } });
        const y = await call(again, "POST", `/v1/runs/${b}/train_step`, { body: { batch: QA } });
        expect(y.body).toEqual(x.body);
      } finally {
        await again.dispose();
      }
    } finally {
      await steady.dispose();
    }
  });
});
