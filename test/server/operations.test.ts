import type { z } from "zod/mini";
import { describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { readSafetensors } from "../../src/server/engine/index.js";
import { QA, type Reply, call, conform, createTinyRun, useTestServer } from "./helpers.js";

const fixture = useTestServer();

describe("every operation over raw HTTP", () => {
  it("answers getHealth without a key and with a request id", async () => {
    const reply = await call(fixture.server, "GET", "/v1/health", { key: null });
    expect(reply.status).toBe(200);
    conform(gen.zGetHealthResponse, reply.body);
    expect(reply.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{16}$/);
  });

  it("lists the engine's models with the default first", async () => {
    const reply = await call(fixture.server, "GET", "/v1/models");
    const list = conform(gen.zListModelsResponse, reply.body);
    expect(list.data.map((m) => m.id)).toEqual(["signal-byte-base", "signal-byte-tiny"]);
    expect(list.data.map((m) => m.default)).toEqual([true, false]);
  });

  it("creates, gets, lists and deletes runs with defaults applied and metadata kept", async () => {
    const created = await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny", metadata: { project: "ops" } } });
    expect(created.status).toBe(201);
    const run = conform(gen.zCreateRunResponse, created.body);
    expect(run).toMatchObject({
      lora_r: 8,
      lora_alpha: 16,
      target_modules: ["q_proj", "v_proj"],
      learning_rate: 0.0005,
      seed: 0,
      current_step: 0,
      metadata: { project: "ops" },
    });
    expect(run.optimizer).toEqual({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0 });

    const got = await call(fixture.server, "GET", `/v1/runs/${run.run_id}`);
    expect(conform(gen.zGetRunResponse, got.body)).toEqual(run);

    const deleted = await call(fixture.server, "DELETE", `/v1/runs/${run.run_id}`);
    expect(conform(gen.zDeleteRunResponse, deleted.body)).toEqual({ object: "run.deleted", run_id: run.run_id, deleted: true });
    expect((await call(fixture.server, "GET", `/v1/runs/${run.run_id}`)).status).toBe(404);
  });

  it("pages through runs newest first with next_cursor", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await createTinyRun(fixture.server));
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const reply: Reply = await call(fixture.server, "GET", `/v1/runs?limit=2${after ? `&after=${after}` : ""}`);
      const page: z.output<typeof gen.zListRunsResponse> = conform(gen.zListRunsResponse, reply.body);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((r) => r.run_id));
      after = page.next_cursor;
      expect(page.has_more).toBe(after !== null);
    } while (after);
    expect(seen.slice(0, 3)).toEqual([...ids].reverse());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("accumulates with forward_backward, steps with optim_step and train_step, discards with zero_grad, and records metrics", async () => {
    const runId = await createTinyRun(fixture.server);
    const fb1 = conform(
      gen.zForwardBackwardResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA.slice(0, 2) } })).body,
    );
    expect(fb1).toMatchObject({ step: 0, accumulated_calls: 1, num_examples: 2 });
    expect(fb1.loss).toBeGreaterThan(0);
    const fb2 = conform(
      gen.zForwardBackwardResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: [{ text: "hello" }] } })).body,
    );
    expect(fb2.accumulated_calls).toBe(2);

    const step = conform(
      gen.zOptimStepResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/optim_step`, { body: { learning_rate: 0.01, max_grad_norm: 1 } })).body,
    );
    expect(step).toMatchObject({ step: 1, learning_rate: 0.01 });

    const train = conform(
      gen.zTrainStepResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: [{ tokens: [72, 105, 33], weights: [0, 1, 1] }] } })).body,
    );
    expect(train).toMatchObject({ step: 2, num_examples: 1, num_tokens: 2 });

    await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA } });
    const zero = conform(gen.zZeroGradResponse, (await call(fixture.server, "POST", `/v1/runs/${runId}/zero_grad`)).body);
    expect(zero).toEqual({ step: 2, discarded_calls: 1 });

    const metrics = conform(gen.zListMetricsResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/metrics`)).body);
    expect(metrics.data.map((m) => m.step)).toEqual([1, 2]);
    expect(metrics.data[0]!.loss).toBeCloseTo((fb1.loss + fb2.loss) / 2, 6);
    expect(metrics.data[0]!.num_tokens).toBe(fb1.num_tokens + fb2.num_tokens);
    expect(metrics.data[1]!.loss).toBeCloseTo(train.loss, 6);

    const firstPage = conform(gen.zListMetricsResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/metrics?limit=1`)).body);
    expect(firstPage).toMatchObject({ has_more: true, next_cursor: "1" });
    const secondPage = conform(gen.zListMetricsResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/metrics?limit=1&after=1`)).body);
    expect(secondPage.data.map((m) => m.step)).toEqual([2]);
    expect(secondPage.has_more).toBe(false);

    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(2);
  });

  it("saves, lists, gets, downloads, restores and deletes checkpoints", async () => {
    const runId = await createTinyRun(fixture.server);
    await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    const adapter = conform(gen.zCreateCheckpointResponse, (await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`)).body);
    expect(adapter).toMatchObject({ step: 1, mode: "adapter", checkpoint_id: `ckpt_${runId}_1` });
    await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    const state = conform(
      gen.zCreateCheckpointResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "state" } })).body,
    );
    expect(state).toMatchObject({ step: 2, mode: "state" });
    expect(state.size_bytes).toBeGreaterThan(adapter.size_bytes);

    const list = conform(gen.zListCheckpointsResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints`)).body);
    expect(list.data.map((c) => c.step)).toEqual([1, 2]);
    expect(conform(gen.zGetCheckpointResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints/2`)).body)).toEqual(state);

    const download = await fetch(`${fixture.server.url}/v1/runs/${runId}/checkpoints/1/content`, {
      headers: { authorization: `Bearer ${fixture.server.key}` },
    });
    expect(download.headers.get("content-type")).toBe("application/octet-stream");
    const file = readSafetensors(new Uint8Array(await download.arrayBuffer()));
    expect([...file.tensors.keys()]).toContain("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");

    const greedy = { prompts: [QA[0]!.prompt], max_tokens: 12, temperature: 0 };
    const atOne = (await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { ...greedy, step: 1 } })).body;
    const restored = conform(gen.zRestoreCheckpointResponse, (await call(fixture.server, "POST", `/v1/runs/${runId}/restore`, { body: { step: 1 } })).body);
    expect(restored).toEqual({ run_id: runId, step: 1, mode: "adapter", restored_optimizer: false });
    const live = (await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: greedy })).body;
    expect(live.samples[0].text).toBe(atOne.samples[0].text);
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}/metrics`)).body.data.map((m: { step: number }) => m.step)).toEqual([1]);
    const fromState = conform(gen.zRestoreCheckpointResponse, (await call(fixture.server, "POST", `/v1/runs/${runId}/restore`, { body: { step: 2 } })).body);
    expect(fromState.restored_optimizer).toBe(true);

    const gone = conform(gen.zDeleteCheckpointResponse, (await call(fixture.server, "DELETE", `/v1/runs/${runId}/checkpoints/1`)).body);
    expect(gone).toEqual({ object: "checkpoint.deleted", run_id: runId, step: 1, deleted: true });
    const missing = await call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints/1`);
    expect(missing.status).toBe(404);
    conform(gen.zError, missing.body);
    expect(missing.body.error).toMatchObject({ code: "checkpoint_not_found", param: "step" });
    expect(missing.body.error.message).toContain("steps 2");
  });

  it("samples from live weights and checkpoints, with logprobs and n, and embeds", async () => {
    const runId = await createTinyRun(fixture.server);
    const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, {
      body: { prompts: ["Q: red?\nA:", "Q: sky?\nA:"], max_tokens: 6, temperature: 0.8, seed: 7, n: 2, logprobs: true },
    });
    const result = conform(gen.zSampleResponse, reply.body);
    expect(result.samples.map((s) => [s.index, s.prompt_index])).toEqual([
      [0, 0],
      [1, 0],
      [2, 1],
      [3, 1],
    ]);
    for (const s of result.samples) expect(s.logprobs?.length).toBe(s.tokens?.length);
    expect(result.usage.completion_tokens).toBeGreaterThan(0);

    const alone = conform(
      gen.zSampleResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["Q: sky?\nA:"], max_tokens: 6, temperature: 0.8, seed: 7, n: 2 } }))
        .body,
    );
    expect(alone.samples.map((s) => s.text)).toEqual(result.samples.slice(2).map((s) => s.text));

    const embedded = conform(
      gen.zCreateEmbeddingsResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/embeddings`, { body: { inputs: ["a", "bb"] } })).body,
    );
    expect(embedded.data).toHaveLength(2);
    expect(embedded.data[0]!.embedding).toHaveLength(embedded.dimensions);
  });

  it("serves OpenAI-style completions with the same text as sample", async () => {
    const runId = await createTinyRun(fixture.server);
    const sampled = conform(
      gen.zSampleResponse,
      (await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["Q: red?\nA:"], max_tokens: 16, temperature: 0 } })).body,
    );
    const completion = conform(
      gen.zCreateCompletionResponse,
      (await call(fixture.server, "POST", "/v1/completions", { body: { model: runId, prompt: "Q: red?\nA:", temperature: 0, logprobs: 1 } })).body,
    );
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]!.text).toBe(sampled.samples[0]!.text);
    expect(completion.choices[0]!.logprobs?.token_logprobs.length).toBe(completion.usage?.completion_tokens);
  });
});
