import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCore } from "../../src/server/engine/engine-core.js";
import type { RunConfig } from "../../src/server/engine/types.js";
import { writeHfCheckpoint } from "../helpers/hf-checkpoint.js";

// `stop_token_ids` (a chat template's end-of-turn ids, which need not be the model's EOS: Llama 3
// ends a turn with <|eot_id|>) end generation like EOS in both samplers: the completion is the
// tokens before the first one, with finish_reason "stop", and the id itself is never returned.

let root: string;
let core: EngineCore;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signal-stop-ids-"));
  await writeHfCheckpoint(join(root, "tiny"), {
    architecture: "LlamaForCausalLM",
    tokenizer: "llama3",
    hidden_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 64,
    dtype: "float32",
    tie_word_embeddings: true,
    max_position_embeddings: 256,
    seed: 41,
  });
  core = await EngineCore.create({ models: [{ path: join(root, "tiny"), id: "tiny" }] });
}, 120_000);

afterAll(async () => {
  core?.dispose();
  await rm(root, { recursive: true, force: true });
});

const config = (base_model: string): RunConfig => ({
  base_model,
  lora_r: 4,
  lora_alpha: 8,
  target_modules: ["q_proj", "v_proj"],
  learning_rate: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weight_decay: 0,
  seed: 1,
});

describe.each(["tiny", "signal-byte-tiny"])("sampling %s", (model) => {
  it("ends before the first stop token id, with finish_reason stop", () => {
    core.createRun(model, config(model));
    const prompt = core.codec(model).encode("Hello there");
    const free = core.sample({ runId: model }, [prompt], { temperature: 0, max_tokens: 12 }).completions[0]!;
    expect(free.tokens.length).toBeGreaterThan(3);
    // The first generated token that did not occur before it, past the first position.
    const k = free.tokens.findIndex((t, i) => i >= 2 && !free.tokens.slice(0, i).includes(t));
    expect(k).toBeGreaterThan(0);
    const stopped = core.sample({ runId: model }, [prompt], { temperature: 0, max_tokens: 12, stop_token_ids: [free.tokens[k]!] }).completions[0]!;
    expect(stopped.tokens).toEqual(free.tokens.slice(0, k));
    expect(stopped.finish_reason).toBe("stop");
    expect(stopped.text).toBe(core.codec(model).decode(free.tokens.slice(0, k)));
    core.dropRun(model);
  });
});
