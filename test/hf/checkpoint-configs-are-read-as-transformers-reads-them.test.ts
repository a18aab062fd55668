import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCore } from "../../src/server/engine/engine-core.js";
import { CheckpointError } from "../../src/server/engine/hf/checkpoint-error.js";
import { EngineError } from "../../src/server/engine/types.js";
import { decoderSpec } from "../../src/server/engine/hf/decoder-spec.js";
import { inspectCheckpoint } from "../../src/server/engine/hf/hf-checkpoint.js";
import { writeHfCheckpoint } from "../helpers/hf-checkpoint.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signal-hf-config-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function checkpoint(name: string, architecture: "MistralForCausalLM" | "Qwen2ForCausalLM", edit: (c: Record<string, unknown>) => void): Promise<string> {
  const dir = join(root, name);
  await writeHfCheckpoint(dir, {
    architecture,
    tokenizer: architecture === "MistralForCausalLM" ? "llama3" : "qwen3",
    hidden_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 24,
    dtype: "float16",
    tie_word_embeddings: true,
    max_position_embeddings: 4096,
    seed: 1,
  });
  const file = join(dir, "config.json");
  const config = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  edit(config);
  await writeFile(file, JSON.stringify(config));
  return dir;
}

const base = { architectures: ["LlamaForCausalLM"], hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 96, vocab_size: 100 };

describe("reading config.json", () => {
  it("caps the context at Mistral's sliding window, and at Qwen's only when use_sliding_window is on", async () => {
    const mistral = inspectCheckpoint({ path: await checkpoint("mistral", "MistralForCausalLM", (c) => (c.sliding_window = 128)) });
    expect(mistral.info.context_length).toBe(128);
    expect(mistral.info.max_position_embeddings).toBe(4096);
    const qwenOff = inspectCheckpoint({
      path: await checkpoint("qwen-off", "Qwen2ForCausalLM", (c) => Object.assign(c, { sliding_window: 128, use_sliding_window: false })),
    });
    expect(qwenOff.info.context_length).toBe(4096);
    const qwenOn = inspectCheckpoint({
      path: await checkpoint("qwen-on", "Qwen2ForCausalLM", (c) => Object.assign(c, { sliding_window: 128, use_sliding_window: true })),
    });
    expect(qwenOn.info.context_length).toBe(128);
  });

  it("takes the newer `dtype` field as well as `torch_dtype`", async () => {
    const dir = await checkpoint("dtype", "Qwen2ForCausalLM", (c) => {
      delete c.torch_dtype;
      c.dtype = "bfloat16";
    });
    expect(inspectCheckpoint({ path: dir }).info.dtype).toBe("bfloat16");
  });

  it("derives head_dim, kv heads and the default RoPE frequencies as transformers does", () => {
    const spec = decoderSpec({ ...base, rope_theta: 10000 }, "config.json");
    expect(spec).toMatchObject({ headDim: 16, kvHeads: 4, qkvBias: false, qkNorm: false, tieEmbeddings: false });
    expect(spec.invFreq[0]).toBe(1);
    expect(spec.invFreq[1]).toBeCloseTo(10000 ** (-2 / 16), 7);
    const qwen3 = decoderSpec({ ...base, architectures: ["Qwen3ForCausalLM"], head_dim: 32, num_key_value_heads: 2 }, "config.json");
    expect(qwen3).toMatchObject({ headDim: 32, kvHeads: 2, qkNorm: true });
    expect(decoderSpec({ ...base, architectures: ["Qwen2ForCausalLM"] }, "config.json").qkvBias).toBe(true);
  });

  it("refuses what it does not compute, naming the field", () => {
    const refuse = (config: Record<string, unknown>) => () => decoderSpec({ ...base, ...config }, "x/config.json");
    expect(refuse({ hidden_act: "gelu" })).toThrow(/hidden_act "gelu" is not supported/);
    expect(refuse({ rope_scaling: { rope_type: "yarn", factor: 4 } })).toThrow(/rope_scaling type "yarn" is not supported \(supported: default, llama3\)/);
    expect(refuse({ num_key_value_heads: 3 })).toThrow(/not a multiple of num_key_value_heads 3/);
    expect(refuse({ architectures: ["PhiForCausalLM"] })).toThrow(CheckpointError);
    expect(refuse({ hidden_size: "64" })).toThrow(/"hidden_size" must be a positive integer/);
  });

  it("refuses a sample whose n sequences of one prompt need more KV cache than the budget, naming n", async () => {
    const dir = await checkpoint("budget", "Qwen2ForCausalLM", () => {});
    // One sequence of 1 layer, 1 KV head of 8 dims: 64 bytes a position; 32 positions × 4 = 8 KiB.
    const core = await EngineCore.create({ models: [{ path: dir, id: "budget" }], kvBudgetBytes: 6 * 1024 });
    try {
      core.createRun("r", {
        base_model: "budget",
        lora_r: 1,
        lora_alpha: 1,
        target_modules: ["q_proj"],
        learning_rate: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0,
        seed: 0,
      });
      const prompt = Array.from({ length: 16 }, (_, i) => i + 10);
      expect(core.sample({ runId: "r" }, [prompt], { max_tokens: 16, n: 2, temperature: 0 }).completions).toHaveLength(2);
      let error: unknown;
      try {
        core.sample({ runId: "r" }, [prompt], { max_tokens: 16, n: 4, temperature: 0 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(EngineError);
      expect(error).toMatchObject({ code: "sample_too_large", param: "n" });
    } finally {
      core.dispose();
    }
  });
});
