import { describe, expect, it } from "vitest";
import { call, createTinyRun, useTestServer } from "./helpers.js";

// forward took what forward_backward refuses: weights [1, 1e300, 1] were a 200 with
// `num_tokens: 1e+300` (which the SDK then rejected), and `logprobs`/`advantages` were silently
// ignored; `sample` dropped `prompt_logprobs` when streaming. One validation for all now.
const fixture = useTestServer();

const batches: Record<string, unknown[]> = {
  "weights past float32": [{ tokens: [1, 2, 3], weights: [1, 1e300, 1] }],
  "weights summing past float32": [{ tokens: [1, 2, 3], weights: [0, 2e38, 2e38] }],
  "RL fields with cross_entropy": [{ tokens: [1, 2, 3], logprobs: [0, -1, -1], advantages: [0, 1, 1] }],
  "advantages alone": [{ tokens: [1, 2, 3], advantages: [0, 1, 1] }],
  "no weighted target": [{ tokens: [1, 2], weights: [0, 0] }],
  "weights of another length": [{ tokens: [1, 2, 3], weights: [1] }],
  "an id outside the vocabulary": [{ tokens: [0, 300, 65535] }],
  "longer than the context": [{ text: "x".repeat(300) }],
};

describe("forward refuses every example forward_backward refuses", () => {
  for (const [name, batch] of Object.entries(batches)) {
    it(`${name}: the same status, code and param`, async () => {
      const runId = await createTinyRun(fixture.server);
      const backward = await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch } });
      const forward = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch } });
      expect(backward.status, JSON.stringify(backward.body)).toBeGreaterThanOrEqual(400);
      expect(backward.status).toBeLessThan(500);
      const shape = (reply: typeof forward) => ({ status: reply.status, code: reply.body.error?.code, param: reply.body.error?.param });
      expect(shape(forward), JSON.stringify(forward.body)).toEqual(shape(backward));
    });
  }

  it("sample refuses prompt_logprobs with stream: true, naming it, instead of dropping it", async () => {
    const runId = await createTinyRun(fixture.server);
    const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, {
      body: { prompts: ["a"], max_tokens: 2, stream: true, prompt_logprobs: true },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toMatchObject({ code: "invalid_request", param: "prompt_logprobs" });
  });
});
