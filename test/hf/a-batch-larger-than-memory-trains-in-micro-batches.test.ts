import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EngineCore } from "../../src/server/engine/engine-core.js";
import { writeHfCheckpoint } from "../helpers/hf-checkpoint.js";
import { runTorchReference, warmTorchReference } from "../helpers/torch-reference.js";

// Qwen's 151,680-row LM head makes each position's logits ~0.6 MB and their training tensors
// ~3.6 MB, so six 48-token rows do not fit one 256 MiB micro-batch: the engine splits them (one
// row at a time here) and must still give the whole batch's loss and gradient, as PyTorch does.
let root: string;
let dir: string;
let core: EngineCore;

beforeAll(async () => {
  warmTorchReference();
  root = await mkdtemp(join(tmpdir(), "signal-micro-"));
  dir = join(root, "qwen");
  await writeHfCheckpoint(dir, {
    architecture: "Qwen3ForCausalLM",
    tokenizer: "qwen3",
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 16,
    intermediate_size: 48,
    dtype: "bfloat16",
    tie_word_embeddings: true,
    seed: 31,
  });
  // The tfjs path's micro-batches (the fast path computes the LM head in row blocks instead).
  core = await EngineCore.create({ models: [{ path: dir, id: "qwen" }], hfCompute: "tfjs" });
}, 120_000);

afterAll(async () => {
  core?.dispose();
  await rm(root, { recursive: true, force: true });
});

it("gives the whole batch's loss and grad_norm when its rows are split into micro-batches", async () => {
  core.createRun("r", {
    base_model: "qwen",
    lora_r: 2,
    lora_alpha: 4,
    target_modules: ["q_proj", "down_proj"],
    learning_rate: 0.05,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0,
    seed: 3,
  });
  let s = 11;
  const next = () => {
    s = (s * 48271) % 2147483647;
    return s % 151000;
  };
  const examples = Array.from({ length: 6 }, (_, e) => {
    const tokens = Array.from({ length: 40 + e }, next);
    return { tokens, weights: tokens.map((_, t) => (t % 5 === e % 5 ? 0 : 1 + (t % 3))) };
  });
  // A trained adapter (B non-zero) so every LoRA tensor has a gradient.
  core.forwardBackward("r", examples.slice(0, 2));
  core.optimStep("r");
  const ours = core.forwardBackward("r", examples);
  const adapter = join(root, "adapter");
  await mkdir(adapter, { recursive: true });
  await writeFile(join(adapter, "adapter_model.safetensors"), core.exportAdapter("r"));
  await writeFile(join(adapter, "adapter_config.json"), JSON.stringify(core.exportState("r").adapter_config));
  const reference = await runTorchReference({
    checkpoint: dir,
    adapter: { safetensors: join(adapter, "adapter_model.safetensors"), config: join(adapter, "adapter_config.json") },
    train: { examples },
  });
  expect(Math.abs(ours.loss - reference.loss!)).toBeLessThan(1e-4);
  expect(Math.abs(ours.grad_norm - reference.grad_norm!) / reference.grad_norm!).toBeLessThan(1e-3);
  expect(ours.num_tokens).toBe(examples.reduce((a, e) => a + e.weights.slice(1).reduce((x, y) => x + y, 0), 0));
}, 120_000);
