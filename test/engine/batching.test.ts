import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCore } from "../../src/server/engine/engine-core.js";
import { MODEL_CONFIGS } from "../../src/server/engine/models.js";
import { kvCacheBytes } from "../../src/server/engine/wasm/decode-kernels.js";
import { type Engine, EngineError, type SampleParams, type SampleResult, createEngine } from "../../src/server/engine/index.js";
import type { SampleHooks } from "../../src/server/engine/sample-loop.js";
import type { WeightsRef } from "../../src/server/engine/types.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

const params: Partial<SampleParams> = { temperature: 1, top_p: 0.95, max_tokens: 40, seed: 11, n: 2, logprobs: true };

/** A request submitted to the core's continuous batch, answered by later `stepSampling()` rounds. */
function submit(core: EngineCore, ref: WeightsRef, prompts: string[], p: Partial<SampleParams>, hooks: SampleHooks = {}) {
  const out: { result?: SampleResult; error?: Error; rounds: number } = { rounds: 0 };
  core.submitSample(ref, prompts, p, hooks, (error, result) => {
    if (error) out.error = error;
    else out.result = result;
  });
  return out;
}

function rounds(core: EngineCore, n: number): void {
  for (let i = 0; i < n && core.stepSampling(); i++);
}

const shape = (r: SampleResult | undefined) => r?.completions.map((c) => [c.tokens, c.logprobs, c.finish_reason, c.text]);

describe("continuous batching (in-thread core, rounds stepped by hand)", () => {
  it("gives a seeded request the same output whenever it joins and whoever decodes with it", async () => {
    const core = await sharedCore();
    core.createRun("cb", tinyConfig({ learning_rate: 3e-2 }));
    for (let i = 0; i < 3; i++) core.trainStep("cb", QA_PAIRS);
    const ref = { runId: "cb" };
    const alone = core.sample(ref, ["Q: dog?\nA:", "hello"], params);
    for (const joinAt of [0, 1, 5, 17]) {
      const long = submit(core, ref, ["a long one", "Q: sun?\nA:", "zz"], { ...params, seed: 3, max_tokens: 60 });
      rounds(core, joinAt);
      const target = submit(core, ref, ["Q: dog?\nA:", "hello"], params);
      rounds(core, 3);
      const late = submit(core, ref, ["x"], { temperature: 0, max_tokens: 30 });
      while (core.stepSampling());
      expect(target.error).toBeUndefined();
      expect(shape(target.result), `joined after ${joinAt} rounds`).toEqual(shape(alone));
      expect(long.result && late.result).toBeTruthy();
    }
  });

  it("answers a short request that joins a long one before the long one ends", async () => {
    const core = await sharedCore();
    core.createRun("cb-short", tinyConfig());
    const ref = { runId: "cb-short" };
    const order: string[] = [];
    core.submitSample(ref, ["long"], { temperature: 0, max_tokens: 200 }, {}, () => order.push("long"));
    rounds(core, 2);
    core.submitSample(ref, ["short"], { temperature: 0, max_tokens: 3 }, {}, () => order.push("short"));
    let n = 0;
    while (core.stepSampling()) n++;
    const longAlone = core.sample(ref, ["long"], { temperature: 0, max_tokens: 200 });
    // Greedy on this run decodes well past the short request's 3 tokens.
    expect(longAlone.completion_tokens).toBeGreaterThan(20);
    expect(order).toEqual(["short", "long"]);
    expect(n).toBeGreaterThan(10);
  });

  it("keeps decoding a request with the weights it started with across an optimizer step", async () => {
    const core = await sharedCore();
    core.createRun("cb-step", tinyConfig({ learning_rate: 5e-2 }));
    const ref = { runId: "cb-step" };
    const before = core.sample(ref, ["Q: cat?\nA:"], params);
    const tensors = core.numTensors();
    const during = submit(core, ref, ["Q: cat?\nA:"], params);
    rounds(core, 4);
    core.trainStep("cb-step", QA_PAIRS);
    const after = submit(core, ref, ["Q: cat?\nA:"], params);
    while (core.stepSampling());
    expect(shape(during.result)).toEqual(shape(before));
    expect(shape(after.result)).toEqual(shape(core.sample(ref, ["Q: cat?\nA:"], params)));
    expect(shape(after.result)).not.toEqual(shape(before));
    // The old merged weights were freed once the last request using them ended.
    expect(core.numTensors()).toBe(tensors);
  });

  it("lets an aborted request leave the batch at once without disturbing the others", async () => {
    const core = await sharedCore();
    core.createRun("cb-abort", tinyConfig());
    const ref = { runId: "cb-abort" };
    const alone = core.sample(ref, ["stay"], params);
    let abort = false;
    let tokensAfterAbort = 0;
    const stays = submit(core, ref, ["stay"], params);
    const leaves = submit(
      core,
      ref,
      ["leave"],
      { ...params, max_tokens: 200 },
      {
        isAborted: () => abort,
        onToken: () => {
          if (abort) tokensAfterAbort++;
        },
      },
    );
    rounds(core, 3);
    abort = true;
    while (core.stepSampling());
    expect(leaves.error).toMatchObject({ code: "aborted" });
    expect(leaves.error).toBeInstanceOf(EngineError);
    expect(tokensAfterAbort).toBe(0);
    expect(shape(stays.result)).toEqual(shape(alone));
    expect(core.pendingSamples()).toBe(0);
  });

  it("lets a paused request sit out rounds (no tokens) while the others decode, then finish with the same output", async () => {
    const core = await sharedCore();
    core.createRun("cb-pause", tinyConfig());
    const ref = { runId: "cb-pause" };
    const aloneA = core.sample(ref, ["paused one", "Q: sea?\nA:"], { ...params, max_tokens: 60 });
    const aloneB = core.sample(ref, ["goes on"], params);
    let paused = true;
    let tokensWhilePaused = 0;
    // Paused before its prefill, then again in the middle of decoding.
    const a = submit(
      core,
      ref,
      ["paused one", "Q: sea?\nA:"],
      { ...params, max_tokens: 60 },
      {
        isPaused: () => paused,
        onToken: () => {
          if (paused) tokensWhilePaused++;
        },
      },
    );
    const b = submit(core, ref, ["goes on"], params);
    rounds(core, 5);
    paused = false;
    rounds(core, 4);
    paused = true;
    while (!b.result && core.stepSampling());
    expect(shape(b.result)).toEqual(shape(aloneB));
    rounds(core, 20);
    expect(a.result).toBeUndefined();
    expect(core.pendingSamples()).toBe(1);
    paused = false;
    while (core.stepSampling());
    expect(tokensWhilePaused).toBe(0);
    expect(shape(a.result)).toEqual(shape(aloneA));
  });

  it("decodes a request larger than the KV budget in waves that fit, with the same seeded output", async () => {
    const core = await sharedCore();
    const perSequence = kvCacheBytes(MODEL_CONFIGS.get("signal-byte-tiny")!);
    // Room for 10 sequences: 2 prompts of n = 4 at a time.
    const small = await EngineCore.create({ kvBudgetBytes: 10 * perSequence });
    core.createRun("kv-ref", tinyConfig());
    small.createRun("kv-small", tinyConfig());
    const prompts = Array.from({ length: 24 }, (_, i) => `wave ${i}`);
    const p = { ...params, n: 4, max_tokens: 12 };
    const reference = core.sample({ runId: "kv-ref" }, prompts, p);

    const waved = submit(small, { runId: "kv-small" }, prompts, p);
    const other = submit(small, { runId: "kv-small" }, ["Q: dog?\nA:", "hello"], params);
    while (small.stepSampling());
    expect(shape(waved.result)).toEqual(shape(reference));
    expect(shape(other.result)).toEqual(shape(core.sample({ runId: "kv-ref" }, ["Q: dog?\nA:", "hello"], params)));
    expect(small.kvMemory()).toEqual({ bytes: 0, peakBytes: 10 * perSequence, budgetBytes: 10 * perSequence });
  });

  it("bounds the KV memory of a 256-prompt × n=16 request by the budget, and refuses one prompt's n that can never fit", async () => {
    const perSequence = kvCacheBytes(MODEL_CONFIGS.get("signal-byte-tiny")!);
    const small = await EngineCore.create({ kvBudgetBytes: 64 * perSequence });
    small.createRun("kv-big", tinyConfig());
    const prompts = Array.from({ length: 256 }, (_, i) => `p${i}`);
    const big = small.sample({ runId: "kv-big" }, prompts, { n: 16, max_tokens: 1, seed: 1 });
    expect(big.completions).toHaveLength(4096);
    // Unbounded, this was 4096 caches (1 GiB on this model, 2 GiB on signal-byte-base).
    expect(small.kvMemory().peakBytes).toBeLessThanOrEqual(64 * perSequence);
    const streamed = submit(small, { runId: "kv-big" }, prompts, { n: 16, max_tokens: 1, seed: 1 });
    while (small.stepSampling());
    expect(streamed.result?.completions).toHaveLength(4096);
    expect(small.kvMemory().peakBytes).toBeLessThanOrEqual(64 * perSequence);

    const tight = await EngineCore.create({ kvBudgetBytes: 8 * perSequence });
    tight.createRun("kv-tight", tinyConfig());
    expect(() => tight.sample({ runId: "kv-tight" }, ["x"], { n: 9 })).toThrow(expect.objectContaining({ code: "sample_too_large", param: "n" }));
    expect(() => submit(tight, { runId: "kv-tight" }, ["x"], { n: 9 })).toThrow(
      /n is 9: the 9 sequences of one prompt need 2\.25 MiB .*budget of 2 MiB \(8 sequences\)/,
    );
    expect(tight.sample({ runId: "kv-tight" }, ["x", "y", "z"], { n: 8, max_tokens: 3, seed: 2 }).completions).toHaveLength(24);
  });

  it("rejects a bad request when it is submitted, leaving the batch as it was", async () => {
    const core = await sharedCore();
    core.createRun("cb-bad", tinyConfig());
    const ok = submit(core, { runId: "cb-bad" }, ["fine"], { max_tokens: 4, seed: 1 });
    expect(() => submit(core, { runId: "cb-bad" }, ["x".repeat(250)], { max_tokens: 10 })).toThrow(
      expect.objectContaining({ code: "context_length_exceeded" }),
    );
    expect(() => submit(core, { runId: "nope" }, ["x"], {})).toThrow(expect.objectContaining({ code: "run_not_found" }));
    expect(core.pendingSamples()).toBe(1);
    while (core.stepSampling());
    expect(ok.result?.completions).toHaveLength(1);
  });
});

describe("continuous batching over worker threads", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ workers: 1 });
  });
  afterAll(async () => {
    await engine.close();
  });

  it("decodes concurrent requests of one run together: a short one answers first, outputs match the in-thread core", async () => {
    await engine.createRun("wb", tinyConfig());
    const ref = { runId: "wb" };
    const order: string[] = [];
    let firstToken: () => void = () => {};
    const started = new Promise<void>((r) => (firstToken = r));
    const long = engine
      .sample(ref, ["long"], { ...fullParams, temperature: 0, max_tokens: 200 }, { onToken: () => firstToken() })
      .then((r) => (order.push("long"), r));
    await started;
    const short = engine.sample(ref, ["short", "Q: cat?\nA:"], fullParams).then((r) => (order.push("short"), r));
    const [longResult, shortResult] = await Promise.all([long, short]);
    expect(longResult.completion_tokens).toBeGreaterThan(20);
    expect(order).toEqual(["short", "long"]);
    const core = await sharedCore();
    core.createRun("wb", tinyConfig());
    expect(shortResult).toEqual(core.sample(ref, ["short", "Q: cat?\nA:"], fullParams));
    expect(longResult).toEqual(core.sample(ref, ["long"], { ...fullParams, temperature: 0, max_tokens: 200 }));
  });

  it("cancels one request through its signal while another keeps decoding", async () => {
    await engine.createRun("wc", tinyConfig());
    const ref = { runId: "wc" };
    const controller = new AbortController();
    const gone = Array.from({ length: 32 }, (_, i) => `gone ${i}`);
    const cancelled = engine.sample(ref, gone, { ...fullParams, max_tokens: 200 }, { signal: controller.signal, onToken: () => controller.abort() });
    const kept = engine.sample(ref, ["kept"], fullParams);
    await expect(cancelled).rejects.toMatchObject({ code: "aborted" });
    const core = await sharedCore();
    core.createRun("wc", tinyConfig());
    expect(await kept).toEqual(core.sample(ref, ["kept"], fullParams));
  });
});

const fullParams: SampleParams = { max_tokens: 12, temperature: 1, top_p: 1, top_k: 0, stop: [], n: 1, logprobs: true, seed: 5 };

describe("sampling a live run on both workers", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ workers: 2 });
  });
  afterAll(async () => {
    await engine.close();
  });

  it("answers concurrent samples around unawaited training steps exactly as the calls' order implies", async () => {
    const config = tinyConfig({ learning_rate: 5e-2 });
    await engine.createRun("both", config);
    const ref = { runId: "both" };
    const wave = (tag: string) => Promise.all(Array.from({ length: 4 }, (_, i) => engine.sample(ref, [`${tag} ${i}`, `Q: cat?\nA: ${i}`], fullParams)));
    // Made in this order without waiting: each wave must see the weights of the steps made before it.
    const calls = [wave("a"), engine.trainStep("both", QA_PAIRS), wave("b"), wave("c"), engine.trainStep("both", QA_PAIRS), wave("d")];
    const [a, , b, c, , d] = await Promise.all(calls);

    const core = await sharedCore();
    core.createRun("both", config);
    const expected = (tag: string) => Array.from({ length: 4 }, (_, i) => core.sample(ref, [`${tag} ${i}`, `Q: cat?\nA: ${i}`], fullParams));
    expect(a).toEqual(expected("a"));
    core.trainStep("both", QA_PAIRS);
    expect(b).toEqual(expected("b"));
    expect(c).toEqual(expected("c"));
    core.trainStep("both", QA_PAIRS);
    expect(d).toEqual(expected("d"));
  });
});
