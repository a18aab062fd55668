import { describe, expect, it } from "vitest";
import { EngineError } from "../../src/server/engine/types.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

describe("training", () => {
  it("learns Q→A pairs: loss falls by over 70% and greedy answers become right", async () => {
    const core = await sharedCore();
    core.createRun("learn", tinyConfig({ base_model: "signal-byte-base", lora_r: 8, lora_alpha: 16, learning_rate: 2e-2, weight_decay: 0, seed: 7 }));
    const before = core.sample(
      { runId: "learn" },
      QA_PAIRS.map((p) => p.prompt),
      { temperature: 0, max_tokens: 8 },
    );
    expect(before.completions.filter((c, i) => c.text === QA_PAIRS[i]!.completion).length).toBe(0);
    const first = core.trainStep("learn", QA_PAIRS).loss;
    let last = first;
    for (let s = 1; s < 100; s++) last = core.trainStep("learn", QA_PAIRS).loss;
    expect(last).toBeLessThan(first * 0.3);
    const after = core.sample(
      { runId: "learn" },
      QA_PAIRS.map((p) => p.prompt),
      { temperature: 0, max_tokens: 8 },
    );
    expect(after.completions.map((c) => c.text)).toEqual(QA_PAIRS.map((p) => p.completion));
    expect(after.completions.every((c) => c.finish_reason === "stop")).toBe(true);
  });

  it("reports loss per weighted token, counts, and accumulates the mean gradient over calls", async () => {
    const core = await sharedCore();
    const batch = [{ prompt: "ab", completion: "cd" }, { text: "xyz" }];
    core.createRun("acc1", tinyConfig());
    core.createRun("acc2", tinyConfig());
    const r = core.forwardBackward("acc1", batch);
    // completion "cd" + EOS = 3 targets; text "xyz" + EOS = 4 targets
    expect(r.num_tokens).toBe(7);
    expect(r.num_examples).toBe(2);
    expect(r.loss).toBeGreaterThan(0);
    const again = core.forwardBackward("acc1", batch);
    expect(again.loss).toBe(r.loss);
    const s1 = core.optimStep("acc1");
    core.forwardBackward("acc2", batch);
    const s2 = core.optimStep("acc2");
    // the mean of two identical gradients is that gradient: same update as one call
    expect(s1.grad_norm).toBeCloseTo(s2.grad_norm, 6);
    expect(s1.step).toBe(1);
    expect(core.forwardBackward("acc1", batch).loss).toBeCloseTo(core.forwardBackward("acc2", batch).loss, 6);
  });

  it("weights tokens examples by their weights and ignores weights[0]", async () => {
    const core = await sharedCore();
    core.createRun("w", tinyConfig());
    const r = core.forwardBackward("w", [{ tokens: [256, 104, 105, 257], weights: [5, 0, 2, 1] }]);
    expect(r.num_tokens).toBe(3);
  });

  it("clips to max_grad_norm and applies a per-step learning rate", async () => {
    const core = await sharedCore();
    core.createRun("clip", tinyConfig());
    core.forwardBackward("clip", [{ text: "hello" }]);
    const r = core.optimStep("clip", { learning_rate: 0.5, max_grad_norm: 1e-3 });
    expect(r.learning_rate).toBe(0.5);
    expect(r.grad_norm).toBeGreaterThan(1e-3);
  });

  it("refuses optim_step with nothing accumulated, also after zero_grad", async () => {
    const core = await sharedCore();
    core.createRun("empty", tinyConfig());
    expect(() => core.optimStep("empty")).toThrow(expect.objectContaining({ code: "nothing_accumulated" }));
    core.forwardBackward("empty", [{ text: "a" }]);
    core.zeroGrad("empty");
    expect(() => core.optimStep("empty")).toThrow(EngineError);
  });

  it("rejects examples longer than the context, naming the index and both lengths", async () => {
    const core = await sharedCore();
    core.createRun("ctx", tinyConfig());
    const err = (() => {
      try {
        core.forwardBackward("ctx", [{ text: "ok" }, { prompt: "p".repeat(200), completion: "c".repeat(100) }]);
      } catch (e) {
        return e as EngineError;
      }
    })();
    expect(err).toBeInstanceOf(EngineError);
    expect(err!.code).toBe("context_length_exceeded");
    expect(err!.param).toBe("batch[1]");
    expect(err!.message).toMatch(/batch\[1\] is 302 tokens.*256/);
  });

  it("rejects invalid token ids and mismatched weights", async () => {
    const core = await sharedCore();
    core.createRun("bad", tinyConfig());
    expect(() => core.forwardBackward("bad", [{ tokens: [1, 999] }])).toThrow(expect.objectContaining({ code: "invalid_example" }));
    expect(() => core.forwardBackward("bad", [{ tokens: [1, 2], weights: [1] }])).toThrow(
      expect.objectContaining({ code: "invalid_example", param: "batch[0].weights" }),
    );
    expect(() => core.forwardBackward("nope", [{ text: "a" }])).toThrow(expect.objectContaining({ code: "run_not_found" }));
    expect(() => core.createRun("m", tinyConfig({ base_model: "gpt-9" }))).toThrow(expect.objectContaining({ code: "model_not_found" }));
  });

  it("does not leak tensors over 100 steps", async () => {
    const core = await sharedCore();
    core.createRun("leak", tinyConfig());
    const batch = [{ prompt: "q", completion: "a" }];
    core.trainStep("leak", batch);
    const before = core.numTensors();
    for (let i = 0; i < 100; i++) core.trainStep("leak", batch);
    expect(core.numTensors()).toBe(before);
  });
});
