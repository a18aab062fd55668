import { describe, expect, it } from "vitest";
import { encodePrompt } from "../../src/server/engine/sample-loop.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

const PROMPTS = ["Q: cat?\nA:", "1+2=", "The quick brown", "x", "Q: sea?\nA:", "abc abc abc", "7", "hello there"];

/** Trains a few steps so the LoRA weights are not at their initial zero update. */
async function trainedRun(model: string, runId: string) {
  const core = await sharedCore();
  core.createRun(runId, tinyConfig({ base_model: model, learning_rate: 3e-2, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"] }));
  for (let i = 0; i < 3; i++) core.trainStep(runId, QA_PAIRS);
  return core;
}

describe("sample and forward logprobs agree", () => {
  for (const model of ["signal-byte-tiny", "signal-byte-base"]) {
    for (const size of [1, 3, 8]) {
      it(`${model}: every sampled token's logprob equals forward's to 1e-5 (${size} prompts, n = 2)`, async () => {
        const runId = `agree-${model}-${size}`;
        const core = await trainedRun(model, runId);
        const prompts = PROMPTS.slice(0, size);
        const result = core.sample({ runId }, prompts, { temperature: 1, max_tokens: 12, n: 2, seed: 5, logprobs: true, prompt_logprobs: true });
        const sequences = result.completions.map((c) => [...encodePrompt(prompts[c.prompt_index]!), ...c.tokens]);
        // forward over the whole batch at once, and one example at a time
        const together = core.forward(
          { runId },
          sequences.map((tokens) => ({ tokens })),
        );
        let compared = 0;
        result.completions.forEach((c, i) => {
          const alone = core.forward({ runId }, [{ tokens: sequences[i]! }]).logprobs[0]!;
          const offset = sequences[i]!.length - c.tokens.length;
          c.logprobs!.forEach((lp, k) => {
            expect(Math.abs(lp - together.logprobs[i]![offset + k]!)).toBeLessThan(1e-5);
            expect(Math.abs(lp - alone[offset + k]!)).toBeLessThan(1e-5);
            compared++;
          });
          // prompt logprobs are forward's over the prompt
          expect(c.prompt_tokens).toEqual(sequences[i]!.slice(0, offset));
          expect(c.prompt_logprobs![0]).toBeNull();
          c.prompt_logprobs!.slice(1).forEach((lp, k) => expect(Math.abs(lp! - together.logprobs[i]![k + 1]!)).toBeLessThan(1e-5));
        });
        expect(compared).toBeGreaterThan(size);
      });
    }
  }

  it("token prompts sample exactly like the same text prompts", async () => {
    const core = await trainedRun("signal-byte-tiny", "agree-tokens");
    const params = { temperature: 0.8, max_tokens: 10, seed: 9, logprobs: true };
    const byText = core.sample({ runId: "agree-tokens" }, PROMPTS, params);
    const byTokens = core.sample({ runId: "agree-tokens" }, PROMPTS.map(encodePrompt), params);
    expect(byTokens.completions).toEqual(byText.completions);
  });

  it("forward changes nothing: the run's state is byte-identical after it", async () => {
    const core = await trainedRun("signal-byte-tiny", "agree-state");
    core.forwardBackward("agree-state", QA_PAIRS.slice(0, 2));
    const before = core.exportState("agree-state");
    core.forward({ runId: "agree-state" }, QA_PAIRS);
    expect(core.exportState("agree-state")).toEqual(before);
  });
});
