import { describe, expect, it } from "vitest";
import { call, createTinyRun, useTestServer } from "./helpers.js";

// prompts × n × max_tokens is what a sampling call may generate (and hold as KV cache and
// results): checked against the server's budget before any weights load or cache is allocated.
const fixture = useTestServer({ limits: { maxSampleTokens: 1_000 } });

describe("a sampling call past the server's token budget", () => {
  it("is a 400 sample_too_large naming max_tokens and the budget, for sample and completions", async () => {
    const { server } = fixture;
    const runId = await createTinyRun(server);
    const prompts = Array.from({ length: 10 }, (_, i) => `p${i}`);
    const sampled = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts, n: 2, max_tokens: 60 } });
    expect(sampled.status).toBe(400);
    expect(sampled.body.error.code).toBe("sample_too_large");
    expect(sampled.body.error.param).toBe("max_tokens");
    expect(sampled.body.error.message).toMatch(/10 × 2 × 60 = 1200 tokens.*at most 1000/);
    const completed = await call(server, "POST", "/v1/completions", { body: { model: runId, prompt: prompts, n: 2, max_tokens: 60 } });
    expect(completed.status).toBe(400);
    expect(completed.body.error.code).toBe("sample_too_large");
    const within = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts, n: 2, max_tokens: 50 } });
    expect(within.status).toBe(200);
  });
});

describe("a sampling call past the engine's KV-cache memory", () => {
  // The server starts its own engine (one worker) with room for 8 sequences of the tiny model.
  const kv = useTestServer({ engine: undefined, workers: 1, limits: { kvBudgetBytes: 8 * 2 * 2 * 256 * 64 * 4 } });

  it("is decoded in waves when each prompt's n fits, and a 400 sample_too_large naming n when it never can", async () => {
    const { server } = kv;
    const runId = await createTinyRun(server);
    const prompts = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const waved = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts, n: 8, max_tokens: 4, seed: 3 } });
    expect(waved.status).toBe(200);
    expect(waved.body.samples).toHaveLength(96);
    const never = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["x"], n: 9, max_tokens: 4 } });
    expect(never.status).toBe(400);
    expect(never.body.error).toMatchObject({ code: "sample_too_large", param: "n", type: "invalid_request_error" });
    expect(never.body.error.message).toMatch(/n is 9: .*budget of 2 MiB \(8 sequences\)/);
  });
});
