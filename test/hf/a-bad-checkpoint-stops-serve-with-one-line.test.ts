import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HfCorruption, corruptHfCheckpoint, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";

const BIN = fileURLToPath(new URL("../../bin/signal.js", import.meta.url));
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signal-bad-hf-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs `frontier-signal serve --model DIR` to its exit; a healthy folder would keep it running, so a timeout fails the test. */
function serve(dir: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, "serve", "--port", "0", "--workers", "1", "--data-dir", join(root, "data"), "--api-key", "sk-x", "--model", dir],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not stop on a bad checkpoint; stderr: ${stderr}`));
    }, 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

async function broken(name: string, how: HfCorruption, shards = 1): Promise<string> {
  const dir = join(root, name);
  await writeHfCheckpoint(dir, {
    architecture: "Qwen2ForCausalLM",
    tokenizer: "qwen3",
    hidden_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 48,
    dtype: "float16",
    tie_word_embeddings: true,
    shards,
    seed: 5,
  });
  await corruptHfCheckpoint(dir, how);
  return dir;
}

describe("serve --model with a checkpoint it cannot use", () => {
  const cases: [string, HfCorruption, number, RegExp][] = [
    [
      "an unsupported architecture, listing the supported ones",
      "unsupported-architecture",
      1,
      /GPTNeoXForCausalLM.*not supported.*LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM/,
    ],
    ["a truncated safetensors shard", "truncate-safetensors", 2, /model-00001-of-00002\.safetensors: truncated/],
    ["a missing tokenizer.json", "remove-tokenizer", 1, /tokenizer\.json is missing/],
  ];
  it.each(cases)("stops with exit code 1 and one line naming %s", async (name, how, shards, pattern) => {
    const dir = await broken(how, how, shards);
    const { code, stderr } = await serve(dir);
    expect(code).toBe(1);
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(stderr).not.toMatch(/\n\s+at /);
    void name;
  });
});
