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
