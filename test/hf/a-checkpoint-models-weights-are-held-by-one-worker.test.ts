import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, createEngine } from "../../src/server/engine/index.js";
import type { RunConfig } from "../../src/server/engine/types.js";
import { QA_PAIRS, tinyConfig } from "../engine/helpers.js";
import { writeHfCheckpoint } from "../helpers/hf-checkpoint.js";

// The base weights of a checkpoint model are its memory: held by every worker that computes on
// it, a 180M model costs its float32 bytes once per worker. The engine gives each checkpoint
// model one worker (its home), which computes every run, adapter and sample of it; built-in
// models stay on every worker.
let root: string;
let engine: Engine;

const config = (base_model: string, seed: number): RunConfig => ({
  base_model,
  lora_r: 4,
  lora_alpha: 8,
  target_modules: ["q_proj", "v_proj", "down_proj"],
  learning_rate: 1e-2,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weight_decay: 0,
  seed,
});
const batch = [{ tokens: [5, 17, 99, 240, 31, 8], weights: [0, 1, 1, 1, 1, 1] }];
const sampling = { max_tokens: 4, temperature: 0, top_p: 1, top_k: -1, stop: [], n: 1, logprobs: true, seed: 1 };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signal-home-"));
  const common = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64, dtype: "float32" as const };
  await writeHfCheckpoint(join(root, "llama"), { architecture: "LlamaForCausalLM", tokenizer: "llama3", ...common, tie_word_embeddings: false, seed: 3 });
  await writeHfCheckpoint(join(root, "qwen"), {
    architecture: "Qwen3ForCausalLM",
    tokenizer: "qwen3",
    ...common,
    head_dim: 8,
    tie_word_embeddings: true,
    seed: 4,
  });
  engine = await createEngine({
    workers: 2,
    models: [
      { path: join(root, "llama"), id: "llama" },
      { path: join(root, "qwen"), id: "qwen" },
    ],
  });
});
afterAll(async () => {
  await engine?.close();
  await rm(root, { recursive: true, force: true });
});

const holders = (held: string[][], model: string) => held.flatMap((models, worker) => (models.includes(model) ? [worker] : []));

describe("a checkpoint model's base weights", () => {
  it("are held by one worker however many runs, adapters and samples use it; built-in models by every worker", async () => {
    // Two runs of each kind: spread over the workers (a run per worker) where the model allows.
    await engine.createRun("byte-1", tinyConfig());
    await engine.createRun("byte-2", tinyConfig({ seed: 4 }));
    await engine.createRun("llama-1", config("llama", 1));
    await engine.createRun("llama-2", config("llama", 2));
    await engine.createRun("qwen-1", config("qwen", 1));
    await Promise.all([
      engine.trainStep("llama-1", batch),
      engine.trainStep("llama-2", batch),
      engine.trainStep("qwen-1", batch),
      engine.trainStep("byte-1", QA_PAIRS),
      engine.trainStep("byte-2", QA_PAIRS),
    ]);
    // A frozen adapter of each run, sampled many times at once (it would go to every worker that has it).
    const state = await engine.exportState("llama-1");
    await engine.loadAdapter("llama-1@1", config("llama", 1), state.adapter);
    const fromAdapter = await Promise.all(Array.from({ length: 6 }, () => engine.sample({ adapterKey: "llama-1@1" }, [[5, 17, 99]], sampling)));
    // Samples of a live run while its worker is busy training (they would go to a copy of the run elsewhere).
    const training = Array.from({ length: 3 }, () => engine.trainStep("llama-2", batch));
    const live = await Promise.all(Array.from({ length: 6 }, () => engine.sample({ runId: "llama-1" }, [[5, 17, 99]], sampling)));
    await Promise.all(training);

    const held = await engine.heldModels();
    expect(held).toHaveLength(2);
    expect(holders(held, "llama")).toHaveLength(1);
    expect(holders(held, "qwen")).toHaveLength(1);
    // One checkpoint per worker while there are workers to spare.
    expect(holders(held, "llama")[0]).not.toBe(holders(held, "qwen")[0]);
    expect(holders(held, "signal-byte-tiny")).toEqual([0, 1]);

    // And every answer is the one the weights give: the adapter is the run's weights at the same step.
    for (const s of [...fromAdapter, ...live]) expect(s).toEqual(fromAdapter[0]);
    const forwardRun = await engine.forward({ runId: "llama-1" }, batch);
    const forwardAdapter = await engine.forward({ adapterKey: "llama-1@1" }, batch);
    expect(forwardAdapter.logprobs).toEqual(forwardRun.logprobs);
  });
});
