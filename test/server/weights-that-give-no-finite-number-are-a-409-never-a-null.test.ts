import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine, TokenEvent } from "../../src/server/engine/types.js";
import { type Reply, type TestServer, call, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// A run an older server stepped with an overflowing gradient has NaN weights: forward gave null
// logprobs and `sample` token 0 with null logprobs, which the SDK rejects
// (APIResponseValidationError). This server never applies such a step, and answers a read on
// such weights with 409 `non_finite_weights` naming the restore that repairs the run, never a
// `null` where the spec says number. The engine here stands in for poisoned weights.

let engine: Engine;
let server: TestServer;
let poisoned = false;
beforeAll(async () => {
  engine = await testEngine();
  const watched: Engine = Object.create(engine);
  watched.forward = async (...args) => {
    const result = await engine.forward(...args);
    return poisoned ? { ...result, loss: Number.NaN, logprobs: result.logprobs.map((row) => row.map((v, i) => (i === 0 ? v : Number.NaN))) } : result;
  };
  watched.sample = async (weights, prompts, params, options) => {
    // A stream's token events get the same poisoned logprob as the result.
    const onToken = options?.onToken;
    const hooks = onToken
      ? { ...options, onToken: (e: TokenEvent) => onToken(poisoned && e.logprob !== undefined ? { ...e, logprob: Number.NaN } : e) }
      : options;
    const result = await engine.sample(weights, prompts, params, hooks);
    if (!poisoned) return result;
    return { ...result, completions: result.completions.map((c) => ({ ...c, logprobs: c.logprobs?.map(() => Number.NaN) })) };
  };
  watched.embeddings = async (...args) => {
    const vectors = await engine.embeddings(...args);
    return poisoned ? vectors.map((v) => v.map(() => Number.NaN)) : vectors;
  };
  server = await startTestServer(watched);
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

function expectNonFiniteWeights(reply: Reply, runId: string): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(409);
  expect(reply.body.error.code).toBe("non_finite_weights");
  expect(reply.body.error.message).toContain(`/v1/runs/${runId}/restore`);
}

describe("weights that give no finite number", () => {
  it("are a 409 non_finite_weights naming the restore, for forward, sample, embeddings, completions and chat completions, plain and streamed", async () => {
    const runId = await createTinyRun(server);
    poisoned = true;
    try {
      expectNonFiniteWeights(await call(server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ text: "a b" }] } }), runId);
      // Greedy, so the (healthy) engine under the stand-in emits tokens: a random draw could end on
      // the stop token at once, leaving no logprob to poison.
      expectNonFiniteWeights(
        await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["a"], max_tokens: 2, temperature: 0, logprobs: true } }),
        runId,
      );
      expectNonFiniteWeights(await call(server, "POST", `/v1/runs/${runId}/embeddings`, { body: { inputs: ["a"] } }), runId);
      expectNonFiniteWeights(
        await call(server, "POST", "/v1/completions", { body: { model: runId, prompt: "a", max_tokens: 2, temperature: 0, logprobs: 1 } }),
        runId,
      );
      expectNonFiniteWeights(
        await call(server, "POST", "/v1/chat/completions", {
          body: { model: runId, messages: [{ role: "user", content: "a" }], max_tokens: 2, temperature: 0, logprobs: true },
        }),
        runId,
      );
      // Streamed: the 409 is the answer (nothing was sent before the first token), never a chunk with a null.
      const streams = [
        [`/v1/runs/${runId}/sample`, { prompts: ["a"], max_tokens: 4, temperature: 0, logprobs: true, stream: true }],
        ["/v1/completions", { model: runId, prompt: "a", max_tokens: 4, temperature: 0, logprobs: 1, stream: true }],
        ["/v1/chat/completions", { model: runId, messages: [{ role: "user", content: "a" }], max_tokens: 4, temperature: 0, logprobs: true, stream: true }],
      ] as const;
      for (const [path, body] of streams) {
        const reply = await call(server, "POST", path, { body });
        expect(String(reply.body), path).not.toContain("null");
        expectNonFiniteWeights(reply, runId);
      }
    } finally {
      poisoned = false;
    }
    expect((await call(server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ text: "a b" }] } })).status).toBe(200);
    const healthy = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["a"], max_tokens: 2, temperature: 0, logprobs: true } });
    expect(healthy.body.samples[0].tokens.length).toBeGreaterThan(0);
  });
});
