import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import type { Engine } from "../../src/server/engine/types.js";
import { type Reply, type TestServer, call, conform, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// The probe: importance_sampling with advantages of 8.3e37 (legal JSON numbers, each call's
// loss and gradient finite) accumulated over 20 forward_backward calls overflows float32;
// optim_step answered 200 {"grad_norm": null} and wrote NaN weights for good.

let engine: Engine;
let server: TestServer;
beforeAll(async () => {
  engine = await testEngine();
  server = await startTestServer(engine);
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

const tokens = [256, 72, 105, 33, 10];
/** The probe's run: the tiny model with the default seed and learning rate. */
const probeRun = () => createTinyRun(server, { seed: 0, learning_rate: 0.0005 });

/** An importance_sampling batch whose sampler logprobs are the run's own, with huge advantages (each call's loss and gradient still finite). */
async function hugeAdvantages(runId: string): Promise<unknown[]> {
  const forward = await call(server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ tokens }] } });
  expect(forward.status).toBe(200);
  const logprobs = (forward.body.logprobs[0] as (number | null)[]).map((v) => v ?? 0);
  return [{ tokens, logprobs, advantages: tokens.map((_, i) => (i === 0 ? 0 : 8.3e37)) }];
}

async function accumulate(runId: string, batch: unknown[], calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const reply = await call(server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch, loss_fn: "importance_sampling" } });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    conform(gen.zForwardBackwardResponse, reply.body);
  }
}

function expectNonFinite(reply: Reply, step: number): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(409);
  expect(reply.body.error.code).toBe("non_finite_gradient");
  expect(reply.body.error.message).toContain(`step ${step} was not applied`);
}

describe("a gradient that overflows float32", () => {
  it("is not applied by optim_step: 409 non_finite_gradient naming the step, the accumulation discarded, durably", async () => {
    const runId = await probeRun();
    await accumulate(runId, await hugeAdvantages(runId), 20);
    expectNonFinite(await call(server, "POST", `/v1/runs/${runId}/optim_step`, { body: {} }), 1);

    expect((await call(server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(0);
    expect((await call(server, "GET", `/v1/runs/${runId}/metrics`)).body.data).toEqual([]);
    const forward = await call(server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ tokens }] } });
    expect(forward.status).toBe(200);
    for (const v of (forward.body.logprobs[0] as (number | null)[]).slice(1)) expect(Number.isFinite(v)).toBe(true);

    // The discarded accumulation is what the store holds too: after a restart nothing is pending.
    await server.close();
    server = await startTestServer(engine, { dataDir: server.dataDir });
    expect((await call(server, "POST", `/v1/runs/${runId}/optim_step`, { body: {} })).body.error.code).toBe("nothing_accumulated");
    const step = await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: [{ text: "hello" }] } });
    expect(step.status).toBe(200);
    conform(gen.zTrainStepResponse, step.body);
    expect(step.body.step).toBe(1);
  });

  it("is not applied by train_step either", async () => {
    const runId = await probeRun();
    const batch = await hugeAdvantages(runId);
    await accumulate(runId, batch, 19);
    expectNonFinite(await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch, loss_fn: "importance_sampling" } }), 1);
    expect((await call(server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(0);
    expect((await call(server, "POST", `/v1/runs/${runId}/optim_step`, { body: {} })).body.error.code).toBe("nothing_accumulated");
  });

  it("cannot come from one input: values past float32's range are refused naming the field", async () => {
    const runId = await createTinyRun(server);
    const cases: [string, unknown, string][] = [
      ["forward_backward", { batch: [{ tokens: [1, 2, 3], weights: [1, 1e300, 1] }] }, "batch[0].weights"],
      ["forward_backward", { batch: [{ tokens: [1, 2, 3], weights: [1, 3e38, 3e38] }] }, "batch[0].weights"],
      ["train_step", { batch: [{ tokens, logprobs: [0, -1, -1, -1, -1], advantages: [0, 1, 1e39, 1, 1] }], loss_fn: "ppo" }, "batch[0].advantages"],
      ["forward", { batch: [{ tokens: [1, 2, 3], weights: [1, 1e300, 1] }] }, "batch[0].weights"],
    ];
    for (const [operation, body, param] of cases) {
      const reply = await call(server, "POST", `/v1/runs/${runId}/${operation}`, { body });
      expect(reply.status, `${operation} ${JSON.stringify(reply.body)}`).toBe(400);
      expect(reply.body.error).toMatchObject({ code: "invalid_example", param });
    }
  });
});
