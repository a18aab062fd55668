import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCore } from "../../src/server/engine/engine-core.js";
import type { SampleParams, SampleResult } from "../../src/server/engine/types.js";
import { type HfCheckpointSpec, TINY_LLAMA3, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";
import { tinyConfig } from "./helpers.js";

// A checkpoint model's sample request used to prefill every prompt at once: 256 prompts × n 16
// held 4096 KV caches together, whatever their size. Like the built-in models' batcher, the
// checkpoint sampler now admits prompts while their sequences fit the KV budget (each counted
// for its prompt and max_tokens) and runs the rest in later waves, oldest request first.

const SPEC: HfCheckpointSpec = { ...TINY_LLAMA3, tie_word_embeddings: true, seed: 41 };
/** Keys and values of both layers, 2 KV heads of 8 floats each, per token. */
const BYTES_PER_TOKEN = 2 * 2 * 2 * 8 * 4;
const PROMPTS = Array.from({ length: 7 }, (_, i) => [128000, 5 + i, 17, 99]);
const PARAMS: Partial<SampleParams> = { n: 2, max_tokens: 6, temperature: 1, seed: 5, logprobs: true };
/** One sequence: its 4 prompt tokens and 6 generated ones. */
const SEQUENCE = BYTES_PER_TOKEN * (4 + 6);

let root: string;
let wide: EngineCore;
const shape = (r: SampleResult | undefined) => r?.completions.map((c) => [c.index, c.prompt_index, c.tokens, c.finish_reason, c.text]);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hf-waves-"));
  await writeHfCheckpoint(join(root, "tiny"), SPEC);
  wide = await EngineCore.create({ models: [{ path: join(root, "tiny"), id: "tiny" }] });
  wide.createRun("r", tinyConfig({ base_model: "tiny", weight_decay: 0, seed: 1 }));
}, 120_000);
afterAll(async () => {
  wide?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe("a checkpoint model's sample request", () => {
  it("larger than the KV budget runs in waves that fit, with the same seeded output", async () => {
    // Room for two prompts' n = 2 sequences at a time.
    const small = await EngineCore.create({ models: [{ path: join(root, "tiny"), id: "tiny" }], kvBudgetBytes: 4 * SEQUENCE });
    try {
      small.createRun("r", tinyConfig({ base_model: "tiny", weight_decay: 0, seed: 1 }));
      const reference = wide.sample({ runId: "r" }, PROMPTS, PARAMS);
      expect(wide.hfKvMemory().peakBytes).toBe(PROMPTS.length * 2 * SEQUENCE);

      const waved = small.sample({ runId: "r" }, PROMPTS, PARAMS);
      expect(shape(waved)).toEqual(shape(reference));
      waved.completions.forEach((c, i) => {
        c.logprobs!.forEach((lp, t) => expect(lp).toBeCloseTo(reference.completions[i]!.logprobs![t]!, 5));
      });
      expect(small.hfKvMemory()).toEqual({ bytes: 0, peakBytes: 4 * SEQUENCE, budgetBytes: 4 * SEQUENCE });

      // Two requests at once: the second waits behind the first's waves, and both are answered.
      const answers: (SampleResult | Error)[] = [];
      small.submitSample({ runId: "r" }, PROMPTS, PARAMS, {}, (error, result) => answers.push(error ?? result!));
      small.submitSample({ runId: "r" }, [PROMPTS[0]!], { ...PARAMS, n: 1 }, {}, (error, result) => answers.push(error ?? result!));
      while (small.stepSampling());
      expect(answers).toHaveLength(2);
      expect(shape(answers[0] as SampleResult)).toEqual(shape(reference));
      expect((answers[1] as SampleResult).completions).toHaveLength(1);
      expect(small.hfKvMemory().peakBytes).toBeLessThanOrEqual(4 * SEQUENCE);
      expect(small.hfKvMemory().bytes).toBe(0);

      // One prompt whose n sequences can never fit is refused before anything runs.
      expect(() => small.sample({ runId: "r" }, [PROMPTS[0]!], { ...PARAMS, n: 5 })).toThrow(expect.objectContaining({ code: "sample_too_large", param: "n" }));
    } finally {
      small.dispose();
    }
  });
});
