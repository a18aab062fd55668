import { describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { QA, call, conform, createTinyRun, useTestServer } from "./helpers.js";

const fixture = useTestServer();

async function tokenize(text: string, add_bos = true): Promise<number[]> {
  const reply = await call(fixture.server, "POST", "/v1/models/signal-byte-tiny/tokenize", { body: { text, add_bos } });
  return conform(gen.zTokenizeResponse, reply.body).tokens;
}

describe("RL primitives over HTTP", () => {
  it("tokenize and detokenize round-trip text; an unknown model is a 404 and a bad id a 400 naming it", async () => {
    const tokens = await tokenize("1+2=é");
    expect(tokens[0]).toBe(256);
    const back = await call(fixture.server, "POST", "/v1/models/signal-byte-tiny/detokenize", { body: { tokens } });
    expect(conform(gen.zDetokenizeResponse, back.body).text).toBe("1+2=é");
    const missing = await call(fixture.server, "POST", "/v1/models/nope/tokenize", { body: { text: "a" } });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: "model_not_found", param: "model_id" });
    const bad = await call(fixture.server, "POST", "/v1/models/signal-byte-tiny/detokenize", { body: { tokens: [1, 400] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("tokens[1]");
  });

  it("samples from prompt_tokens with logprobs and prompt_logprobs that forward reproduces, and forward changes nothing", async () => {
    const runId = await createTinyRun(fixture.server);
    await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    const prompt = await tokenize("Q: red?\nA:");
    const sampled = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, {
      body: { prompt_tokens: [prompt], max_tokens: 8, seed: 3, n: 2, logprobs: true, prompt_logprobs: true },
    });
    const result = conform(gen.zSampleResponse, sampled.body);
    const before = await call(fixture.server, "GET", `/v1/runs/${runId}`);
    for (const s of result.samples) {
      expect(s.prompt_tokens).toEqual(prompt);
      const fwd = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ tokens: [...prompt, ...s.tokens!] }] } });
      const f = conform(gen.zForwardResponse, fwd.body);
      expect(f.step).toBe(1);
      const lp = f.logprobs[0]!;
      expect(lp[0]).toBeNull();
      s.logprobs!.forEach((v, k) => expect(Math.abs(v - lp[prompt.length + k]!)).toBeLessThan(1e-5));
      s.prompt_logprobs!.slice(1).forEach((v, k) => expect(Math.abs(v! - lp[k + 1]!)).toBeLessThan(1e-5));
    }
    const after = await call(fixture.server, "GET", `/v1/runs/${runId}`);
    expect(after.body).toEqual(before.body);
  });

  it("forward on a checkpoint step uses its weights, and a missing step is a 404", async () => {
    const runId = await createTinyRun(fixture.server);
    await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "adapter" } });
    const atOne = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: QA } });
    await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    const fromCheckpoint = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: QA, step: 1 } });
    expect(fromCheckpoint.body).toEqual(atOne.body);
    const live = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: QA } });
    expect(live.body.step).toBe(2);
    expect(live.body.loss).toBeLessThan(atOne.body.loss);
    const missing = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: QA, step: 7 } });
    expect(missing.status).toBe(404);
  });

  it("trains with importance_sampling and ppo; bad combinations are a 400 naming the field, before any work", async () => {
    const runId = await createTinyRun(fixture.server);
    const tokens = await tokenize("1+2=3");
    const fwd = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ tokens }] } });
    const logprobs = (fwd.body.logprobs[0] as (number | null)[]).map((v) => v ?? 0);
    const advantages = tokens.map((_, i) => (i === tokens.length - 1 ? 1 : 0));
    const example = { tokens, logprobs, advantages };
    const is = await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: [example], loss_fn: "importance_sampling" } });
    expect(is.status).toBe(200);
    expect(is.body.num_tokens).toBe(tokens.length - 1);
    const ppo = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, {
      body: { batch: [example], loss_fn: "ppo", loss_fn_config: { clip_low_threshold: 0.9, clip_high_threshold: 1.1 } },
    });
    expect(ppo.status).toBe(200);
    expect(ppo.body.step).toBe(1);
    const state = await call(fixture.server, "GET", `/v1/runs/${runId}`);
    const cases: [unknown, string][] = [
      [{ batch: [{ tokens, advantages }], loss_fn: "ppo" }, "batch[0].logprobs"],
      [{ batch: [{ tokens, logprobs }], loss_fn: "importance_sampling" }, "batch[0].advantages"],
      [{ batch: [{ tokens, logprobs: logprobs.slice(1), advantages }], loss_fn: "ppo" }, "batch[0].logprobs"],
      [{ batch: [{ text: "abc" }], loss_fn: "ppo" }, "batch[0]"],
      [{ batch: [example], loss_fn: "importance_sampling", loss_fn_config: { clip_low_threshold: 0.5 } }, "loss_fn_config"],
      [{ batch: [{ tokens, logprobs, advantages }] }, "batch[0].logprobs"],
    ];
    for (const [body, param] of cases) {
      const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body });
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.param).toBe(param);
    }
    // a null in logprobs (what JSON makes of NaN) is refused by the schema, naming it
    const nan = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, {
      body: `{"batch":[{"tokens":[256,49],"logprobs":[0,NaN],"advantages":[0,1]}],"loss_fn":"ppo"}`,
    });
    expect(nan.status).toBeGreaterThanOrEqual(400);
    expect(nan.status).toBeLessThan(500);
    const nullValue = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, {
      body: { batch: [{ tokens: [256, 49], logprobs: [0, null], advantages: [0, 1] }], loss_fn: "ppo" },
    });
    expect(nullValue.status).toBeGreaterThanOrEqual(400);
    expect(nullValue.body.error.param).toMatch(/^batch\[0\]/);
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body).toEqual(state.body);
  });

  it("sample needs exactly one of prompts and prompt_tokens, and names a bad token prompt", async () => {
    const runId = await createTinyRun(fixture.server);
    const both = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["a"], prompt_tokens: [[256]] } });
    expect(both.status).toBe(400);
    expect(both.body.error.param).toBe("prompts");
    const neither = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { max_tokens: 2 } });
    expect(neither.status).toBe(400);
    const long = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompt_tokens: [[256], Array(250).fill(97)], max_tokens: 16 } });
    expect(long.status).toBe(400);
    expect(long.body.error.param).toBe("prompt_tokens[1]");
    const bad = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompt_tokens: [[256, 300]], max_tokens: 2 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("prompt_tokens[0][1]");
  });
});
