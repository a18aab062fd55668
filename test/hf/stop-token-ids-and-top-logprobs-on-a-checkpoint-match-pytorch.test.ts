import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignalClient } from "../../src/index.js";
import { type Engine, createEngine } from "../../src/server/engine/index.js";
import { writeHfCheckpoint } from "../helpers/hf-checkpoint.js";
import { runTorchReference, warmTorchReference } from "../helpers/torch-reference.js";
import { type TestServer, call, startTestServer } from "../server/helpers.js";

// `stop_token_ids` and `top_logprobs` on a Hugging Face checkpoint (a Llama 3-shaped one with the
// real Llama 3 tokenizer), over real HTTP, on both compute paths: ONNX Runtime (the fast path)
// and tfjs. The top lists are checked against PyTorch's log_softmax (test/reference).

/** Per-token logprobs against PyTorch, as test/engine/hf-vs-torch.test.ts. */
const LOGPROB_TOL = 1e-4;
const K = 5;
const PROMPT = [128000, 9906, 1917, 11, 1268, 527, 499];

let root: string;
let dir: string;

beforeAll(async () => {
  warmTorchReference();
  root = await mkdtemp(join(tmpdir(), "signal-hf-topk-"));
  dir = join(root, "tiny-llama3");
  await writeHfCheckpoint(dir, {
    architecture: "LlamaForCausalLM",
    tokenizer: "llama3",
    hidden_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 80,
    dtype: "float32",
    tie_word_embeddings: false,
    max_position_embeddings: 256,
    seed: 31,
  });
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Top {
  token: number;
  logprob: number;
}

interface SampleOut {
  text: string;
  finish_reason: string;
  tokens: number[];
  logprobs: number[];
  top_logprobs?: Top[][];
  prompt_top_logprobs?: (Top[] | null)[];
}

/**
 * Engine top lists against PyTorch's: the same values in order and, where no near tie can swap
 * them, the same ids. @returns how many ids were compared.
 */
function expectSameTops(ours: Top[], torch: [number, number][]): number {
  let compared = 0;
  expect(ours).toHaveLength(K);
  for (let i = 1; i < K; i++) expect(ours[i]!.logprob).toBeLessThanOrEqual(ours[i - 1]!.logprob);
  ours.forEach((t, i) => {
    expect(Math.abs(t.logprob - torch[i]![1])).toBeLessThan(LOGPROB_TOL);
    const gap = Math.min(i > 0 ? torch[i - 1]![1] - torch[i]![1] : Infinity, i < K - 1 ? torch[i]![1] - torch[i + 1]![1] : Infinity);
    if (gap > 2 * LOGPROB_TOL) {
      expect(t.token).toBe(torch[i]![0]);
      compared++;
    }
  });
  return compared;
}

describe.each(["onnxruntime", "tfjs"] as const)("a checkpoint on %s", (hfCompute) => {
  let engine: Engine;
  let server: TestServer;
  let runId: string;

  beforeAll(async () => {
    engine = await createEngine({ workers: 1, models: [{ path: dir, id: "tiny-llama3" }], hfCompute });
    server = await startTestServer(engine);
    const created = await call(server, "POST", "/v1/runs", { body: { base_model: "tiny-llama3", lora_r: 2, lora_alpha: 4 } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    runId = created.body.run_id;
  }, 120_000);

  afterAll(async () => {
    await server?.dispose();
    await engine?.close();
  });

  async function sample(body: Record<string, unknown>): Promise<SampleOut[]> {
    const reply = await call(server, "POST", `/v1/runs/${runId}/sample`, { body });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    return reply.body.samples;
  }

  it("stops before a listed id with finish_reason stop: sample, its stream and /v1/completions", async () => {
    const params = { max_tokens: 12, temperature: 1, seed: 5 };
    const [full] = await sample({ prompts: ["Hello world, how are you"], ...params, logprobs: true });
    const at = full!.tokens.findIndex((t, i) => i > 0 && full!.tokens.indexOf(t) === i);
    expect(at).toBeGreaterThan(0);
    const id = full!.tokens[at]!;
    const [cut] = await sample({ prompts: ["Hello world, how are you"], ...params, logprobs: true, stop_token_ids: [id] });
    expect(cut!.tokens).toEqual(full!.tokens.slice(0, at));
    expect(cut!.finish_reason).toBe("stop");
    const client = new SignalClient({ apiKey: server.key, baseUrl: server.url, maxRetries: 0 });
    let streamed = "";
    let finish: string | null = null;
    for await (const chunk of client.inference(runId).streamSample("Hello world, how are you", { ...params, stop_token_ids: [id] })) {
      streamed += chunk.delta;
      finish = chunk.finish_reason ?? finish;
    }
    await client.close();
    expect(streamed).toBe(cut!.text);
    expect(finish).toBe("stop");
    const completion = await call(server, "POST", "/v1/completions", {
      body: { model: runId, prompt: "Hello world, how are you", ...params, stop_token_ids: [id] },
    });
    expect(completion.body.choices[0].text).toBe(cut!.text);
    expect(completion.body.choices[0].finish_reason).toBe("stop");
    const bad = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["a"], stop_token_ids: [128_320] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe("stop_token_ids[0]");
  });

  it("stops /v1/chat/completions before a listed id as sample with the same messages does, and fills its top_logprobs", async () => {
    const messages = [{ role: "user", content: "Hello, how are you?" }];
    const params = { max_tokens: 10, temperature: 1, seed: 8 };
    const [full] = await sample({ messages: [messages], ...params, logprobs: true });
    const at = full!.tokens.findIndex((t, i) => i > 0 && full!.tokens.indexOf(t) === i);
    expect(at).toBeGreaterThan(0);
    const [cut] = await sample({ messages: [messages], ...params, logprobs: true, top_logprobs: 3, stop_token_ids: [full!.tokens[at]!] });
    expect(cut!.tokens).toEqual(full!.tokens.slice(0, at));
    const reply = await call(server, "POST", "/v1/chat/completions", {
      body: { model: runId, messages, ...params, stop_token_ids: [full!.tokens[at]!], logprobs: true, top_logprobs: 3 },
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const choice = reply.body.choices[0];
    expect(choice.message.content).toBe(cut!.text);
    expect(choice.finish_reason).toBe("stop");
    expect(choice.logprobs.content.map((c: { top_logprobs: { logprob: number }[] }) => c.top_logprobs.map((t) => t.logprob))).toEqual(
      cut!.top_logprobs!.map((top) => top.map((t) => t.logprob)),
    );
  });

  it("lists the prompt's and the generated positions' k most likely tokens as PyTorch computes them", async () => {
    const [s] = await sample({ prompt_tokens: [PROMPT], max_tokens: 6, temperature: 1, seed: 2, logprobs: true, prompt_logprobs: true, top_logprobs: K });
    const sequence = [...PROMPT, ...s!.tokens];
    const torch = await runTorchReference({ checkpoint: dir, logprobs: [sequence], top_logprobs: K });
    const ref = torch.top_logprobs![0]!;
    expect(s!.prompt_top_logprobs).toHaveLength(PROMPT.length);
    expect(s!.prompt_top_logprobs![0]).toBeNull();
    let compared = 0;
    for (let t = 1; t < PROMPT.length; t++) compared += expectSameTops(s!.prompt_top_logprobs![t]!, ref[t]!);
    expect(s!.top_logprobs).toHaveLength(s!.tokens.length);
    s!.tokens.forEach((token, j) => {
      compared += expectSameTops(s!.top_logprobs![j]!, ref[PROMPT.length + j]!);
      const entry = s!.top_logprobs![j]!.find((t) => t.token === token);
      if (entry) expect(entry.logprob).toBe(s!.logprobs[j]);
    });
    // Most positions have no near tie in their top 5: the ids are really compared.
    expect(compared).toBeGreaterThan((PROMPT.length - 1 + s!.tokens.length) * K * 0.5);
  });

  it("puts the chosen token first under greedy decoding, with its own logprob", async () => {
    const [s] = await sample({ prompt_tokens: [PROMPT], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3 });
    expect(s!.tokens.length).toBeGreaterThan(0);
    s!.tokens.forEach((token, j) => {
      expect(s!.top_logprobs![j]).toHaveLength(3);
      expect(s!.top_logprobs![j]![0]).toEqual({ token, logprob: s!.logprobs[j] });
    });
  });
});
