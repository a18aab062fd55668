import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestError, SignalClient } from "../../src/index.js";
import { saveAdapter } from "../../src/node/index.js";
import { type RunningServer, startServer } from "../../src/server/index.js";
import { writeHfCheckpoint } from "../helpers/hf-checkpoint.js";
import { decodeSafetensors } from "../helpers/safetensors-file.js";
import { runTorchReference, warmTorchReference } from "../helpers/torch-reference.js";

/** Tensor shapes of a safetensors file, by name. */
async function shapes(file: string): Promise<Record<string, number[]>> {
  const { tensors } = decodeSafetensors(new Uint8Array(await readFile(file)));
  return Object.fromEntries([...tensors].map(([name, t]) => [name, t.shape]));
}

// A Llama 3-shaped checkpoint (real Llama 3 tokenizer, grouped-query attention, llama3 RoPE
// scaling, float32) and a Qwen3-shaped one (real Qwen3 tokenizer, per-head q/k norms, tied
// embeddings, bfloat16 in two shards), served by a real server over HTTP and driven by the SDK.
let root: string;
let llama: string;
let qwen: string;
let server: RunningServer;
let client: SignalClient;
const KEY = "sk-hf-test-key";

beforeAll(async () => {
  warmTorchReference();
  root = await mkdtemp(join(tmpdir(), "signal-hf-"));
  llama = join(root, "tiny-llama3");
  qwen = join(root, "qwen-folder");
  await writeHfCheckpoint(llama, {
    architecture: "LlamaForCausalLM",
    tokenizer: "llama3",
    hidden_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 80,
    dtype: "float32",
    tie_word_embeddings: false,
    rope_theta: 500000,
    rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
    max_position_embeddings: 512,
    seed: 11,
  });
  await writeHfCheckpoint(qwen, {
    architecture: "Qwen3ForCausalLM",
    tokenizer: "qwen3",
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    intermediate_size: 64,
    dtype: "bfloat16",
    tie_word_embeddings: true,
    max_position_embeddings: 1024,
    shards: 2,
    seed: 12,
  });
  server = await startServer({
    port: 0,
    dataDir: join(root, "data"),
    apiKeys: [KEY],
    workers: 1,
    log: false,
    models: [{ path: llama }, { path: qwen, id: "tiny-qwen3", contextLength: 256 }],
  });
  client = new SignalClient({ apiKey: KEY, baseUrl: server.url, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

describe("serving Hugging Face checkpoints", () => {
  it("lists each checkpoint with its architecture and sizes, the built-in model staying the default", async () => {
    const { data } = await client.listModels();
    expect(data[0]!.id).toBe("signal-byte-base");
    expect(data[0]!.default).toBe(true);
    const l = data.find((m) => m.id === "tiny-llama3")!;
    const q = data.find((m) => m.id === "tiny-qwen3")!;
    const config = JSON.parse(await readFile(join(llama, "config.json"), "utf8")) as Record<string, number>;
    expect(l).toMatchObject({
      architecture: "LlamaForCausalLM",
      context_length: 512,
      max_position_embeddings: 512,
      vocab_size: config.vocab_size,
      d_model: 48,
      n_layers: 2,
      n_heads: 4,
      n_kv_heads: 2,
      head_dim: 12,
      intermediate_size: 80,
      dtype: "float32",
      bos_token_id: 128000,
      default: false,
    });
    expect(l.target_modules).toEqual(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);
    // num_parameters counts the checkpoint's tensors, read here from the file's own header.
    const count = Object.values(await shapes(join(llama, "model.safetensors"))).reduce((a, shape) => a + shape.reduce((x, y) => x * y, 1), 0);
    expect(l.num_parameters).toBe(count);
    // The cap given at start wins over max_position_embeddings; Qwen has no BOS.
    expect(q).toMatchObject({ architecture: "Qwen3ForCausalLM", context_length: 256, max_position_embeddings: 1024, dtype: "bfloat16", bos_token_id: null });
    expect(q.eos_token_ids).toContain(151645);
  });

  it("tokenizes with the checkpoint's own tokenizer.json, BOS only where the model has one", async () => {
    const l = await client.tokenize("tiny-llama3", "Hello World");
    expect(l.tokens).toEqual([9906, 4435]);
    expect((await client.tokenize("tiny-llama3", "Hello World", { add_bos: true })).tokens).toEqual([128000, 9906, 4435]);
    const q = await client.tokenize("tiny-qwen3", "Hello World", { add_bos: true });
    expect(q.tokens).toEqual([9707, 4337]);
    expect(q.bos_token_id).toBeNull();
    const text = "naïve café — 数学 😀 done";
    const ids = (await client.tokenize("tiny-qwen3", text)).tokens;
    expect((await client.detokenize("tiny-qwen3", ids)).text).toBe(text);
  });

  it("answers a token id outside the model's vocabulary with a 400 naming the exact field", async () => {
    const run = await client.createRun({ base_model: "tiny-qwen3", lora_r: 2, lora_alpha: 4 });
    const { data } = await client.listModels();
    const vocab = data.find((m) => m.id === "tiny-qwen3")!.vocab_size;
    // Past 65,535 is legal on the wire; past the model's vocabulary is not.
    await expect(run.forwardBackward([{ tokens: [1, 100_000, 151_000, 2] }])).resolves.toBeDefined();
    const error = await run.forwardBackward([{ tokens: [1, 2, vocab, 3] }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe("batch[0].tokens[2]");
    await run.zeroGrad();
  });

  it("streams deltas that add up to the sampled text, and stop strings cut it the same way", async () => {
    const run = await client.createRun({ base_model: "tiny-qwen3", lora_r: 2, lora_alpha: 4 });
    for (const params of [
      { max_tokens: 12, temperature: 0 },
      { max_tokens: 16, temperature: 1, seed: 4 },
    ]) {
      const [text] = await run.sample(["Hello there, 你好"], params);
      let streamed = "";
      const reasons: (string | null)[] = [];
      for await (const chunk of run.streamSample("Hello there, 你好", params)) {
        streamed += chunk.delta;
        reasons.push(chunk.finish_reason);
      }
      expect(streamed).toBe(text);
      expect(reasons.at(-1)).not.toBeNull();
      // A stop string taken from the middle of that text ends the sample just before it.
      const stop = text!.slice(3, 5);
      if (stop.trim().length > 0 && text!.indexOf(stop) === 3) {
        const [cut] = await run.sample(["Hello there, 你好"], { ...params, stop: [stop] });
        expect(cut).toBe(text!.slice(0, 3));
      }
    }
  });

  it("refuses MLP targets on a built-in model, naming target_modules", async () => {
    const error = await client.createRun({ base_model: "signal-byte-tiny", target_modules: ["q_proj", "gate_proj"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe("target_modules");
  });

  it("reports token_accuracy on every training step, as forward does on the same weights, and records it with the step's metrics", async () => {
    const run = await client.createRun({ base_model: "tiny-llama3", lora_r: 4, lora_alpha: 8, learning_rate: 0.05, seed: 2 });
    const batch = [{ prompt: "one two three", completion: " four five six" }];
    const steps = [];
    for (let i = 0; i < 12; i++) steps.push(await run.trainBatch(batch));
    for (const step of steps) {
      expect(step.token_accuracy).toBeGreaterThanOrEqual(0);
      expect(step.token_accuracy).toBeLessThanOrEqual(1);
    }
    // Memorising one completion: by the end the model predicts most of it.
    expect(steps.at(-1)!.token_accuracy!).toBeGreaterThan(steps[0]!.token_accuracy! + 0.3);
    const metrics = [];
    for await (const row of client.listMetrics(run.run_id)) metrics.push(row.token_accuracy);
    expect(metrics).toEqual(steps.map((s) => s.token_accuracy));
    const forward = await run.forward(batch);
    const accumulated = await run.forwardBackward(batch);
    expect(accumulated.token_accuracy).toBeCloseTo(forward.token_accuracy!, 6);
    await client.deleteRun(run.run_id);
  });

  it("trains LoRA on every projection and exports a PEFT adapter that PyTorch loads to the same logprobs", async () => {
    const run = await client.createRun({
      base_model: "tiny-llama3",
      lora_r: 4,
      lora_alpha: 8,
      learning_rate: 0.02,
      target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    });
    const batch = [{ prompt: "The capital of France is", completion: " Paris" }, { text: "one two three four" }];
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) losses.push((await run.trainBatch(batch)).loss);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    const checkpoint = await run.saveState({ mode: "adapter" });
    expect(checkpoint.adapter_config).toMatchObject({
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      r: 4,
      lora_alpha: 8,
      base_model_name_or_path: "tiny-llama3",
      target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    });
    const folder = join(root, "adapter");
    const saved = await saveAdapter(client, run.run_id, checkpoint.step, folder, { baseModelNameOrPath: llama });
    const header = await shapes(saved.files.weights);
    expect(Object.keys(header)).toEqual(
      expect.arrayContaining([
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
        "base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight",
        "base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight",
        "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight",
      ]),
    );
    // k_proj under grouped-query attention: A [r, hidden], B [kv_heads * head_dim, r].
    expect(header["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"]).toEqual([24, 4]);
    expect(header["base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"]).toEqual([4, 80]);
    expect(JSON.parse(await readFile(saved.files.config, "utf8")).base_model_name_or_path).toBe(llama);

    const tokens = [128000, ...(await client.tokenize("tiny-llama3", "The capital of France is Paris")).tokens];
    const ours = await run.forward([{ tokens }]);
    const prompt = tokens.slice(0, 5);
    const sampled = await fetch(`${server.url}/v1/runs/${run.run_id}/sample`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt_tokens: [prompt], max_tokens: 6, temperature: 0, logprobs: true }),
    });
    expect(sampled.status).toBe(200);
    const greedy = (await sampled.json()) as { samples: { tokens: number[]; finish_reason: string }[] };
    const reference = await runTorchReference({
      checkpoint: llama,
      adapter: { safetensors: saved.files.weights, config: saved.files.config },
      logprobs: [tokens],
      greedy: { prompt, max_tokens: 6, eos_token_ids: [128001] },
    });
    ours.logprobs[0]!.forEach((lp, i) => {
      if (i === 0) expect(lp).toBeNull();
      else expect(Math.abs((lp as number) - (reference.logprobs![0]![i] as number))).toBeLessThan(1e-4);
    });
    expect(greedy.samples[0]!.tokens).toEqual(reference.greedy_tokens);
  });
});
