import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corruptHfCheckpoint, HF_TOKENIZERS, type HfCheckpointSpec, hfTensorLayout, tokenizerVocabSize, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";
import { decodeSafetensors } from "../helpers/safetensors-file.js";
import { runTorchReference, type TorchReferenceAnswer, TorchReferenceError, warmTorchReference } from "../helpers/torch-reference.js";

// Tiny models of every architecture, in every stored dtype, single-file and sharded, each run
// through the PyTorch reference: the reference must read exactly what the writer wrote.

const base = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64 } as const;
const llama3Rope = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } as const;

const llamaF32: HfCheckpointSpec = {
  ...base,
  architecture: "LlamaForCausalLM",
  tokenizer: "llama3",
  num_key_value_heads: 2,
  dtype: "float32",
  tie_word_embeddings: false,
  attention_bias: true,
  rope_scaling: llama3Rope,
  seed: 11,
};
const mistralF32: HfCheckpointSpec = {
  ...base,
  architecture: "MistralForCausalLM",
  tokenizer: "llama3",
  num_key_value_heads: 1,
  dtype: "float32",
  tie_word_embeddings: true,
  shards: 3,
  seed: 12,
};
const CASES: Record<string, HfCheckpointSpec> = {
  "llama-f32": llamaF32,
  "llama-bf16": { ...llamaF32, dtype: "bfloat16" },
  "mistral-f32-sharded": mistralF32,
  "mistral-f16": { ...mistralF32, dtype: "float16", shards: 1, generation_config: null },
  "qwen2-bf16-sharded": {
    ...base,
    architecture: "Qwen2ForCausalLM",
    tokenizer: "qwen3",
    num_key_value_heads: 2,
    dtype: "bfloat16",
    tie_word_embeddings: true,
    shards: 2,
    rope_theta: 1_000_000,
    seed: 13,
  },
  "qwen3-f32": {
    ...base,
    architecture: "Qwen3ForCausalLM",
    tokenizer: "qwen3",
    num_key_value_heads: 2,
    head_dim: 16,
    dtype: "float32",
    tie_word_embeddings: false,
    seed: 14,
  },
};
/** Checkpoints whose values are the float32 ones of another, rounded to a narrower dtype. */
const ROUNDED_FROM: Record<string, string> = { "llama-bf16": "llama-f32", "mistral-f16": "mistral-f32-sharded" };
const TEXT = "Hello, world! Fine-tune 123 times — ünïcödé 你好";
const STORED = { float32: "F32", float16: "F16", bfloat16: "BF16" } as const;

let root: string;
const dirs: Record<string, string> = {};
const tokenizers = new Map<string, Tokenizer>();

beforeAll(async () => {
  warmTorchReference();
  root = await mkdtemp(join(tmpdir(), "hf-fixtures-"));
  for (const [name, spec] of Object.entries(CASES)) {
    dirs[name] = join(root, name);
    await writeHfCheckpoint(dirs[name], spec);
  }
}, 120_000);
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function tokenizerOf(dir: string): Promise<Tokenizer> {
  const cached = tokenizers.get(dir);
  if (cached) return cached;
  const tok = new Tokenizer(
    JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")) as object,
    JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")) as object,
  );
  tokenizers.set(dir, tok);
  return tok;
}

/** Every tensor of the folder, decoded by the TypeScript reader, with the file that holds it. */
async function decodedTensors(dir: string) {
  const out = new Map<string, { file: string; dtype: string; shape: number[]; data: Float32Array }>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith(".safetensors")).sort()) {
    for (const [name, t] of decodeSafetensors(await readFile(join(dir, file))).tensors) out.set(name, { file, ...t });
  }
  return out;
}

describe.each(Object.keys(CASES))("the %s checkpoint", (name) => {
  const spec = CASES[name]!;
  let answer: TorchReferenceAnswer;
  let ids: number[];

  beforeAll(async () => {
    const tok = await tokenizerOf(dirs[name]!);
    const bos = spec.tokenizer === "llama3" ? [HF_TOKENIZERS.llama3.bos_token_id] : [];
    ids = [...bos, ...tok.encode(TEXT, { add_special_tokens: false }).ids];
    const from = ROUNDED_FROM[name];
    answer = await runTorchReference({
      checkpoint: dirs[name]!,
      logprobs: [ids, ids.slice(0, 5)],
      prob_sums: true,
      greedy: { prompt: ids.slice(0, 4), max_tokens: 6, eos_token_ids: [HF_TOKENIZERS[spec.tokenizer].eos_token_id] },
      inspect: from ? { rounded_from: dirs[from] } : {},
    });
  }, 120_000);

  it("has config.json as transformers writes it for the architecture", async () => {
    const config = JSON.parse(await readFile(join(dirs[name]!, "config.json"), "utf8")) as Record<string, unknown>;
    const tokVocab = await tokenizerVocabSize(spec.tokenizer);
    expect(config).toMatchObject({
      architectures: [spec.architecture],
      model_type: { LlamaForCausalLM: "llama", MistralForCausalLM: "mistral", Qwen2ForCausalLM: "qwen2", Qwen3ForCausalLM: "qwen3" }[spec.architecture],
      torch_dtype: spec.dtype,
      hidden_act: "silu",
      tie_word_embeddings: spec.tie_word_embeddings,
      bos_token_id: HF_TOKENIZERS[spec.tokenizer].bos_token_id,
      eos_token_id: HF_TOKENIZERS[spec.tokenizer].eos_token_id,
    });
    // The default vocab pads the LM head past the tokenizer: at least one row no token uses.
    expect(config.vocab_size).toBe(answer.vocab_size);
    expect(answer.vocab_size % 64).toBe(0);
    expect(answer.vocab_size).toBeGreaterThan(tokVocab);
    expect(answer.vocab_size - tokVocab).toBeLessThanOrEqual(64);
    expect(Object.keys(config)).toEqual(Object.keys(config).sort());
  });

  it("holds exactly transformers' tensor names, in the stored dtype, as the reference reads them", async () => {
    const mine = await decodedTensors(dirs[name]!);
    const layout = hfTensorLayout(spec, answer.vocab_size);
    expect([...mine.keys()].sort()).toEqual(layout.map((t) => t.name).sort());
    expect(Object.keys(answer.tensors!).sort()).toEqual([...mine.keys()].sort());
    for (const { name: tensor, shape } of layout) {
      const ours = mine.get(tensor)!;
      const theirs = answer.tensors![tensor]!;
      expect({ tensor, dtype: theirs.dtype, shape: theirs.shape }).toEqual({ tensor, dtype: STORED[spec.dtype], shape });
      expect(ours.dtype).toBe(STORED[spec.dtype]);
      let sum = 0;
      let sumSq = 0;
      for (const v of ours.data) {
        sum += v;
        sumSq += v * v;
      }
      expect(Math.abs(sum - theirs.sum), tensor).toBeLessThan(1e-9 * Math.max(1, sumSq));
      expect(Math.abs(sumSq - theirs.sum_sq) / sumSq, tensor).toBeLessThan(1e-12);
    }
  });

  // Only the checkpoints written with a float32 twin to compare with have this test at all.
  if (ROUNDED_FROM[name] !== undefined) {
    it("rounds float32 weights to its dtype exactly as torch does", () => {
      const mismatches = Object.entries(answer.tensors!).filter(([, t]) => t.rounding_mismatches !== 0);
      expect(mismatches).toEqual([]);
    });
  }

  it("gives finite logprobs of a normalized distribution over every LM-head row", () => {
    expect(answer.logprobs).toHaveLength(2);
    const [full, prefix] = answer.logprobs!;
    expect(full).toHaveLength(ids.length);
    expect(full![0]).toBeNull();
    const values = full!.slice(1) as number[];
    for (const v of values) expect(Number.isFinite(v) && v < 0).toBe(true);
    // Not a flat distribution: the random weights make some tokens likelier than others.
    expect(Math.max(...values) - Math.min(...values)).toBeGreaterThan(0.05);
    // Causal: a prefix sees the same logprobs as the whole sequence.
    expect(prefix!.slice(1)).toEqual(full!.slice(1, 5).map((v) => expect.closeTo(v as number, 5)));
    for (const row of answer.prob_sums!) for (const s of row) expect(Math.abs(s - 1)).toBeLessThan(1e-5);
  });

  it("decodes greedily within the vocabulary and the token budget", () => {
    const tokens = answer.greedy_tokens as number[];
    expect(tokens.length).toBeLessThanOrEqual(6);
    for (const t of tokens) expect(Number.isInteger(t) && t >= 0 && t < answer.vocab_size).toBe(true);
    expect(tokens).not.toContain(HF_TOKENIZERS[spec.tokenizer].eos_token_id);
  });

  it("copies the real tokenizer, whose ids round-trip through the text and fit the LM head", async () => {
    const tok = await tokenizerOf(dirs[name]!);
    const textIds = tok.encode(TEXT, { add_special_tokens: false }).ids;
    expect(tok.decode(textIds)).toBe(TEXT);
    expect(textIds.length).toBeGreaterThan(5);
    expect(Math.max(...ids)).toBeLessThan(answer.vocab_size);
  });
});

describe("the checkpoint layout", () => {
  it("writes shards that together hold each tensor once, as the index says", async () => {
    for (const name of ["mistral-f32-sharded", "qwen2-bf16-sharded"]) {
      const dir = dirs[name]!;
      const spec = CASES[name]!;
      const index = JSON.parse(await readFile(join(dir, "model.safetensors.index.json"), "utf8")) as {
        metadata: { total_size: number };
        weight_map: Record<string, string>;
      };
      const files = (await readdir(dir)).filter((f) => f.endsWith(".safetensors")).sort();
      const n = spec.shards!;
      expect(files).toEqual(Array.from({ length: n }, (_, k) => `model-0000${k + 1}-of-0000${n}.safetensors`));
      const decoded = await decodedTensors(dir);
      expect(Object.fromEntries([...decoded].map(([t, { file }]) => [t, file]))).toEqual(index.weight_map);
      const bytes = [...decoded.values()].reduce((s, t) => s + t.data.length * (spec.dtype === "float32" ? 4 : 2), 0);
      expect(index.metadata.total_size).toBe(bytes);
    }
  });

  it("writes generation_config.json with the tokenizer's ids unless told not to", async () => {
    const generation = JSON.parse(await readFile(join(dirs["qwen3-f32"]!, "generation_config.json"), "utf8")) as Record<string, unknown>;
    expect(generation).toMatchObject({ bos_token_id: HF_TOKENIZERS.qwen3.bos_token_id, eos_token_id: HF_TOKENIZERS.qwen3.generation_eos });
    await expect(readFile(join(dirs["mistral-f16"]!, "generation_config.json"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("is the same bytes for the same seed and different weights for another", async () => {
    const spec: HfCheckpointSpec = { ...CASES["qwen2-bf16-sharded"]!, shards: 1 };
    await writeHfCheckpoint(join(root, "again-a"), spec);
    await writeHfCheckpoint(join(root, "again-b"), spec);
    await writeHfCheckpoint(join(root, "again-c"), { ...spec, seed: spec.seed + 1 });
    const [a, b, c] = await Promise.all(["again-a", "again-b", "again-c"].map((d) => readFile(join(root, d, "model.safetensors"))));
    expect(a!.equals(b!)).toBe(true);
    expect(a!.length).toBe(c!.length);
    expect(a!.equals(c!)).toBe(false);
    // Sharding does not change the values: the single file decodes to the sharded checkpoint's.
    const single = decodeSafetensors(a!).tensors;
    const sharded = await decodedTensors(dirs["qwen2-bf16-sharded"]!);
    const same = [...single].filter(([t, v]) => Buffer.from(v.data.buffer).equals(Buffer.from(sharded.get(t)!.data.buffer)));
    expect(same.length).toBe(sharded.size);
  });
});

describe("broken checkpoints", () => {
  const small: HfCheckpointSpec = {
    ...base,
    architecture: "Qwen2ForCausalLM",
    tokenizer: "qwen3",
    num_key_value_heads: 4,
    dtype: "bfloat16",
    tie_word_embeddings: true,
    seed: 5,
  };

  it("a truncated safetensors file is refused by the reference, naming the file", async () => {
    const dir = join(root, "truncated");
    await writeHfCheckpoint(dir, small);
    const file = await corruptHfCheckpoint(dir, "truncate-safetensors");
    await expect(runTorchReference({ checkpoint: dir, logprobs: [[1, 2]] })).rejects.toThrow(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*(truncated|past the end)`),
    );
  });

  it("a truncated shard is refused too", async () => {
    const dir = join(root, "truncated-shard");
    await writeHfCheckpoint(dir, { ...small, shards: 2 });
    const file = await corruptHfCheckpoint(dir, "truncate-safetensors");
    expect(file).toMatch(/model-00001-of-00002\.safetensors$/);
    await expect(runTorchReference({ checkpoint: dir, logprobs: [[1, 2]] })).rejects.toThrow(TorchReferenceError);
  });

  it("a removed tokenizer.json is gone and the rest of the folder is intact", async () => {
    const dir = join(root, "no-tokenizer");
    await writeHfCheckpoint(dir, small);
    await corruptHfCheckpoint(dir, "remove-tokenizer");
    expect((await readdir(dir)).sort()).toEqual(["config.json", "generation_config.json", "model.safetensors", "tokenizer_config.json"]);
  });

  it("an unsupported architecture is refused with the supported list", async () => {
    const dir = join(root, "gpt-neox");
    await writeHfCheckpoint(dir, small);
    await corruptHfCheckpoint(dir, "unsupported-architecture");
    await expect(runTorchReference({ checkpoint: dir, logprobs: [[1, 2]] })).rejects.toThrow(/GPTNeoXForCausalLM.*not supported.*Qwen3ForCausalLM/);
  });
});

describe("the reference's own failures", () => {
  it("says how to install torch when the interpreter cannot import it", async () => {
    // -S skips site-packages, where Debian's python3-torch lives.
    const error = await runTorchReference({ checkpoint: dirs["llama-f32"]! }, { python: ["/usr/bin/python3", "-S"] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TorchReferenceError);
    expect((error as Error).message).toBe("PyTorch reference needs Debian's python3-torch: apt-get install python3-torch");
  });

  it("says how to install torch when there is no such interpreter", async () => {
    await expect(runTorchReference({ checkpoint: dirs["llama-f32"]! }, { python: [join(root, "no-python")] })).rejects.toThrow(
      /python3-torch: apt-get install python3-torch/,
    );
  });

  it("refuses token ids past the LM head", async () => {
    const vocab = Math.ceil(((await tokenizerVocabSize("qwen3")) + 1) / 64) * 64;
    await expect(runTorchReference({ checkpoint: dirs["qwen3-f32"]!, logprobs: [[1, vocab]] })).rejects.toThrow(`out of range [0, ${vocab})`);
  });
});
