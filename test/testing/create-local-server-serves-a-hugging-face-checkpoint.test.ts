import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestError, SignalClient } from "../../src/index.js";
import { createLocalServer } from "../../src/testing/index.js";
import { TINY_LLAMA3, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";

// An app team's tests against a real checkpoint, in process: createLocalServer({ models }) serves
// a Hugging Face folder next to the built-in models, as `signal serve --model` does.

const root = fileURLToPath(new URL("../../", import.meta.url));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "local-hf-"));
  await writeHfCheckpoint(join(dir, "tiny-llama3"), { ...TINY_LLAMA3, max_position_embeddings: 512, seed: 9 });
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("createLocalServer({ models })", () => {
  it("lists, tokenizes, trains and samples a checkpoint folder, the default when named, its context capped, writing no file", async () => {
    const before = await readdir(root);
    await using local = await createLocalServer({ models: [{ path: join(dir, "tiny-llama3"), contextLength: 128 }], defaultModel: "tiny-llama3" });
    const client = new SignalClient({ apiKey: local.apiKey, baseUrl: local.url, maxRetries: 0, strictResponseValidation: true });
    const models = await client.listModels();
    expect(models.data[0]).toMatchObject({ id: "tiny-llama3", default: true, architecture: "LlamaForCausalLM", context_length: 128 });
    expect(models.data.map((m) => m.id)).toContain("signal-byte-tiny");
    const { tokens } = await client.tokenize("tiny-llama3", "one two three");
    expect(tokens.length).toBeGreaterThan(0);

    const run = await client.createRun({ base_model: "tiny-llama3", lora_r: 4, learning_rate: 0.05, target_modules: ["q_proj", "v_proj", "up_proj"] });
    const batch = [{ prompt: "one two", completion: " three four" }];
    const losses: number[] = [];
    for (let i = 0; i < 6; i++) losses.push((await run.trainBatch(batch)).loss);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
    const [text] = await run.sample(["one two"], { max_tokens: 4, temperature: 0 });
    expect(typeof text).toBe("string");
    // The cap holds: a prompt past 128 tokens is refused naming it.
    const long = await run.sample(["x ".repeat(200)], { max_tokens: 1 }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(BadRequestError);
    expect((long as BadRequestError).param).toBe("prompts[0]");
    await client.close();
    // Nothing new in the working directory (an engine once left ONNX Runtime scratch files there);
    // tools' dot-directories aside, which other test files may create meanwhile.
    expect((await readdir(root)).filter((name) => !before.includes(name) && !name.startsWith("."))).toEqual([]);
  }, 240_000);
});
