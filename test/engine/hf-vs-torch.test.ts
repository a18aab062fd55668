import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCore, type HfCompute } from "../../src/server/engine/engine-core.js";
import type { RunConfig, TargetModule } from "../../src/server/engine/types.js";
import { type HfCheckpointSpec, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";
import { runTorchReference, type TorchReferenceRequest, warmTorchReference } from "../helpers/torch-reference.js";

// The engine on Hugging Face checkpoints against the PyTorch reference (transformers' forward
// pass and PEFT's LoRA, test/reference/hf_reference.py), on tiny checkpoints of each architecture:
// the base model's logprobs, a new run's first loss and gradient norm, a trained adapter exported
// as PEFT safetensors and loaded on the base in PyTorch, and greedy tokens with EOS. Training runs
// on both compute paths: the fast one (ONNX Runtime, hand-written backward) and tfjs's autodiff.

/** Per-token logprobs: the tolerance. */
const LOGPROB_TOL = 1e-4;
const base = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64 } as const;

interface Case {
  spec: HfCheckpointSpec;
  targets: TargetModule[];
}
const CASES: Record<string, Case> = {
  "tiny-llama": {
    spec: {
      ...base,
      architecture: "LlamaForCausalLM",
      tokenizer: "llama3",
      num_key_value_heads: 2,
      dtype: "float32",
      tie_word_embeddings: false,
      attention_bias: true,
      // A short original context so a test-length sequence reaches all three frequency regimes.
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
      seed: 21,
    },
    targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  },
  "tiny-mistral": {
    spec: {
      ...base,
      architecture: "MistralForCausalLM",
      tokenizer: "llama3",
      num_key_value_heads: 1,
      dtype: "bfloat16",
      tie_word_embeddings: true,
      shards: 2,
      seed: 22,
    },
    targets: ["q_proj", "v_proj"],
  },
  "tiny-qwen2": {
    spec: {
      ...base,
      architecture: "Qwen2ForCausalLM",
      tokenizer: "qwen3",
      num_key_value_heads: 2,
      dtype: "float16",
      tie_word_embeddings: true,
      rope_theta: 1_000_000,
      seed: 23,
    },
    targets: ["o_proj", "gate_proj", "down_proj"],
  },
  "tiny-qwen3": {
    spec: {
      ...base,
      architecture: "Qwen3ForCausalLM",
      tokenizer: "qwen3",
      num_key_value_heads: 2,
      head_dim: 16,
      dtype: "bfloat16",
      tie_word_embeddings: false,
      seed: 24,
    },
    targets: ["q_proj", "k_proj", "up_proj"],
  },
};
const TEXTS = ["The quick brown fox jumps over the lazy dog.", "Fine-tune 3 models: Llama, Qwen — ünïcödé 你好!"];

/** The paths a checkpoint trains on; `core` is the first (the default when onnxruntime-node is installed). */
const COMPUTES = ["onnxruntime", "tfjs"] as const satisfies readonly HfCompute[];

let root: string;
let core: EngineCore;
const cores = {} as Record<(typeof COMPUTES)[number], EngineCore>;
const dirs: Record<string, string> = {};

beforeAll(async () => {
  warmTorchReference();
  root = await mkdtemp(join(tmpdir(), "hf-vs-torch-"));
  for (const [id, c] of Object.entries(CASES)) {
    dirs[id] = join(root, id);
    await writeHfCheckpoint(dirs[id], c.spec);
  }
  for (const hfCompute of COMPUTES)
    cores[hfCompute] = await EngineCore.create({ models: Object.keys(CASES).map((id) => ({ path: dirs[id]!, id })), hfCompute });
  core = cores.onnxruntime;
}, 120_000);
afterAll(async () => {
  for (const c of Object.values(cores)) c.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

function runConfig(id: string, targets: TargetModule[], overrides: Partial<RunConfig> = {}): RunConfig {
  return {
    base_model: id,
    lora_r: 4,
    lora_alpha: 8,
    target_modules: targets,
    learning_rate: 2e-2,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0,
    seed: 1,
    ...overrides,
  };
}

/** Writes the run's adapter as a PEFT folder and returns the reference's `adapter` field. */
async function peftFolder(name: string, adapter: Uint8Array, config: Record<string, unknown>) {
  const dir = join(root, "adapters", name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "adapter_model.safetensors"), adapter);
  await writeFile(join(dir, "adapter_config.json"), JSON.stringify(config, null, 2));
  return { safetensors: join(dir, "adapter_model.safetensors"), config: join(dir, "adapter_config.json") };
}

/** The ids every sampler stops at: tokenizer_config's eos_token and generation_config's and config's eos_token_id. */
async function eosIds(dir: string): Promise<number[]> {
  const read = async (f: string) => JSON.parse(await readFile(join(dir, f), "utf8").catch(() => "{}")) as Record<string, unknown>;
  const [config, generation, tokConfig, tokenizer] = await Promise.all([
    read("config.json"),
    read("generation_config.json"),
    read("tokenizer_config.json"),
    read("tokenizer.json"),
  ]);
  const ids = (v: unknown) => (Array.isArray(v) ? (v as number[]) : typeof v === "number" ? [v] : []);
  const eosText = typeof tokConfig.eos_token === "string" ? tokConfig.eos_token : (tokConfig.eos_token as { content?: string } | undefined)?.content;
  const added = (tokenizer.added_tokens as { id: number; content: string }[]).find((t) => t.content === eosText);
  return [...new Set([...(added ? [added.id] : []), ...ids(generation.eos_token_id), ...ids(config.eos_token_id)])];
}

function maxDiff(a: (number | null)[][], b: (number | null)[][]): number {
  expect(a.map((r) => r.length)).toEqual(b.map((r) => r.length));
  let worst = 0;
  a.forEach((row, i) =>
    row.forEach((v, t) => {
      const w = b[i]![t];
      if (t === 0) expect([v, w]).toEqual([null, null]);
      else worst = Math.max(worst, Math.abs((v as number) - (w as number)));
    }),
  );
  return worst;
}

describe.each(Object.keys(CASES))("%s against PyTorch", (id) => {
  const c = CASES[id]!;
  let sequences: number[][];
  let examples: { tokens: number[]; weights: number[] }[];
  /** PyTorch's logprobs of `sequences` on the base model. */
  let torchBase: (number | null)[][];

  beforeAll(async () => {
    const dir = dirs[id]!;
    const tok = new Tokenizer(
      JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")) as object,
      JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")) as object,
    );
    const vocab = (JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as { vocab_size: number }).vocab_size;
    sequences = TEXTS.map((t) => tok.encode(t, { add_special_tokens: false }).ids);
    // The last LM-head row is a padded one no token of the tokenizer uses: still a valid input.
    sequences[1]!.push(vocab - 1, sequences[1]![0]!);
    examples = sequences.map((tokens, e) => ({ tokens, weights: tokens.map((_, t) => (t % 3 === e ? 0 : t % 4 === 1 ? 0.5 : 1)) }));
    torchBase = (await runTorchReference({ checkpoint: dir, logprobs: sequences })).logprobs!;
  }, 120_000);

  it("a new run's forward equals the base model's logprobs in PyTorch", async () => {
    core.createRun(`${id}-base`, runConfig(id, c.targets));
    const engine = core.forward(
      { runId: `${id}-base` },
      sequences.map((tokens) => ({ tokens })),
    );
    expect(maxDiff(engine.logprobs, torchBase)).toBeLessThan(LOGPROB_TOL);
    core.dropRun(`${id}-base`);
  });

  it.each(COMPUTES)(
    "trained on %s: the first step's loss, grad_norm and token_accuracy, a trained adapter's logprobs, loss, grad_norm and token_accuracy, and greedy tokens equal PyTorch's",
    async (hfCompute) => {
      const core = cores[hfCompute];
      expect(core.hfCompute).toBe(hfCompute);
      const runId = `${id}-train`;
      const state = core.createRun(runId, runConfig(id, c.targets));
      const fresh = await peftFolder(`${id}-fresh`, state.adapter, state.adapter_config);
      const first = core.forwardBackward(runId, examples);
      core.optimStep(runId);
      for (let step = 0; step < 4; step++) {
        core.forwardBackward(runId, examples);
        core.optimStep(runId);
      }
      const trained = await peftFolder(`${id}-trained`, core.exportAdapter(runId), core.exportState(runId).adapter_config);
      const engineLogprobs = core.forward(
        { runId },
        sequences.map((tokens) => ({ tokens })),
      ).logprobs;
      const later = core.forwardBackward(runId, examples);
      core.zeroGrad(runId);
      const prompt = sequences[0]!.slice(0, 5);
      const engineGreedy = core.sample({ runId }, [prompt], { temperature: 0, max_tokens: 8 }).completions[0]!.tokens;
      const eos = await eosIds(dirs[id]!);

      const request = (adapter: TorchReferenceRequest["adapter"]): TorchReferenceRequest => ({ checkpoint: dirs[id]!, adapter, train: { examples } });
      const [torchFirst, torchTrained] = await Promise.all([
        runTorchReference(request(fresh)),
        runTorchReference({ ...request(trained), logprobs: sequences, greedy: { prompt, max_tokens: 8, eos_token_ids: eos } }),
      ]);

      expect(first.loss).toBeCloseTo(torchFirst.loss!, 4);
      // The argmax accuracy over the weighted targets, reported by both compute paths.
      expect(first.token_accuracy).toBeCloseTo(torchFirst.token_accuracy!, 6);
      expect(later.token_accuracy).toBeCloseTo(torchTrained.token_accuracy!, 6);
      expect(Math.abs(first.grad_norm - torchFirst.grad_norm!) / torchFirst.grad_norm!).toBeLessThan(1e-3);
      // The adapter moved the model (else the next comparison would only repeat the base one).
      expect(maxDiff(torchTrained.logprobs!, torchBase)).toBeGreaterThan(1e-2);
      expect(maxDiff(engineLogprobs, torchTrained.logprobs!)).toBeLessThan(LOGPROB_TOL);
      expect(later.loss).toBeCloseTo(torchTrained.loss!, 4);
      expect(later.loss).toBeLessThan(first.loss);
      expect(Math.abs(later.grad_norm - torchTrained.grad_norm!) / torchTrained.grad_norm!).toBeLessThan(1e-3);
      expect(engineGreedy).toEqual(torchTrained.greedy_tokens);
      core.dropRun(runId);
    },
  );

  it("greedy sampling stops at a generation_config EOS id, without it, as in PyTorch", async () => {
    // The same weights with an EOS the base model produces greedily a few tokens in: of several
    // prompts, the first whose continuation brings a new token at step 2 or later.
    const prompts = sequences.flatMap((s) => [3, 5, 7, 9].map((n) => s.slice(0, n)));
    const free = await runTorchReference({ checkpoint: dirs[id]!, greedy: prompts.map((prompt) => ({ prompt, max_tokens: 6, eos_token_ids: [] })) });
    const continuations = free.greedy_tokens as number[][];
    const fresh = (tokens: number[]) => tokens.findIndex((t, i) => i >= 2 && !tokens.slice(0, i).includes(t));
    const pick = Math.max(
      0,
      continuations.findIndex((tokens) => fresh(tokens) >= 0),
    );
    const prompt = prompts[pick]!;
    const tokens = continuations[pick]!;
    expect(fresh(tokens), "no prompt's greedy continuation changes token").toBeGreaterThanOrEqual(2);
    const stopId = tokens[fresh(tokens)]!;
    // The case's folder with only generation_config.json replaced (what writeHfCheckpoint writes
    // for this spec with that generation_config), instead of generating the weights again.
    const dir = join(root, `${id}-eos`);
    await cp(dirs[id]!, dir, { recursive: true });
    await writeFile(join(dir, "generation_config.json"), `${JSON.stringify({ bos_token_id: null, eos_token_id: [stopId] }, null, 2)}\n`);
    const eosCore = await EngineCore.create({ models: [{ path: dir, id: `${id}-eos` }] });
    try {
      eosCore.createRun("r", runConfig(`${id}-eos`, c.targets));
      const engine = eosCore.sample({ runId: "r" }, [prompt], { temperature: 0, max_tokens: 6 }).completions[0]!;
      const torch = await runTorchReference({ checkpoint: dir, greedy: { prompt, max_tokens: 6, eos_token_ids: await eosIds(dir) } });
      expect(torch.greedy_tokens).toEqual(tokens.slice(0, tokens.indexOf(stopId)));
      expect(engine.tokens).toEqual(torch.greedy_tokens);
      expect(engine.finish_reason).toBe("stop");
    } finally {
      eosCore.dispose();
    }
  }, 180_000);
});
