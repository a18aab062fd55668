import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestError, SignalClient } from "../../src/index.js";
import { type RunningServer, startServer } from "../../src/server/index.js";
import { TINY_LLAMA3, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";

// The same exactness as on the byte model, on a Hugging Face checkpoint with LoRA on the MLP
// too: a run from a checkpoint, and a fresh run given the exported PEFT adapter, compute the
// source's forward at that checkpoint bit for bit.

let root: string;
let server: RunningServer;
let client: SignalClient;
const KEY = "sk-hf-saved-state";
const MODEL = "tiny-llama-saved";
const BATCH = [{ text: "The quick brown fox jumps over the lazy dog." }, { prompt: "Hello there,", completion: " general Kenobi." }];
const SHAPE = { base_model: MODEL, lora_r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj", "gate_proj", "down_proj"] as const };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signal-hf-saved-"));
  const dir = join(root, MODEL);
  await writeHfCheckpoint(dir, {
    ...TINY_LLAMA3,
    intermediate_size: 48,
    max_position_embeddings: 256,
    seed: 21,
  });
  server = await startServer({ port: 0, dataDir: join(root, "data"), apiKeys: [KEY], workers: 1, log: false, models: [{ path: dir }] });
  client = new SignalClient({ apiKey: KEY, baseUrl: server.url, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

describe("a Hugging Face checkpoint model's run started from saved state", () => {
  it("from_checkpoint and importAdapter both reproduce the source's forward at the checkpoint exactly", async () => {
    const source = await client.createRun({ ...SHAPE, target_modules: [...SHAPE.target_modules], learning_rate: 0.01, seed: 5 });
    await source.trainBatch(BATCH);
    await source.trainBatch(BATCH);
    await source.saveState({ mode: "state" });
    await source.trainBatch(BATCH);
    const expected = (await source.forward(BATCH, { step: 2 })).logprobs;
    expect((await source.forward(BATCH)).logprobs).not.toEqual(expected);

    const fromCheckpoint = await client.createRun({ from_checkpoint: { run_id: source.run_id, step: 2 } });
    expect(fromCheckpoint.target_modules).toEqual(["q_proj", "v_proj", "gate_proj", "down_proj"]);
    expect((await fromCheckpoint.forward(BATCH)).logprobs).toEqual(expected);

    const adapter = await source.downloadCheckpoint(2);
    const imported = await client.createRun({ ...SHAPE, target_modules: [...SHAPE.target_modules] });
    await imported.importAdapter(adapter);
    expect((await imported.forward(BATCH)).logprobs).toEqual(expected);

    // Without the MLP modules the file holds tensors the run does not have: refused, named.
    const attentionOnly = await client.createRun({ ...SHAPE, target_modules: ["q_proj", "v_proj"] });
    const error = (await attentionOnly.importAdapter(adapter).catch((e: unknown) => e)) as BadRequestError;
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.message).toMatch(/tensor base_model\.model\.model\.layers\.0\.mlp\.(gate|down)_proj\.lora_A\.weight is not one of the run's/);
  }, 120_000);
});
