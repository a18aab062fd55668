import { readFileSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, EngineError, type TokenEvent, createEngine } from "../../src/server/engine/index.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

let engine: Engine;
beforeAll(async () => {
  engine = await createEngine({ workers: 2 });
});
afterAll(async () => {
  await engine.close();
});

const params = { max_tokens: 16, temperature: 0.9, top_p: 0.95, top_k: 0, stop: [], n: 1, logprobs: true, seed: 4 };

/** Nice values of this process's threads (Linux), by thread id. */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    nices.set(Number(tid), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
  }
  return nices;
}

describe("the engine over worker threads", () => {
  it.runIf(process.platform === "linux")("runs its workers 5 nicer than the process, so a busy engine does not starve the server's requests", async () => {
    const own = threadNices().get(process.pid)!;
    const nicer = () => [...threadNices().values()].filter((n) => n === Math.min(19, own + 5)).length;
    const before = nicer();
    const calm = await createEngine({ workers: 1, workerNice: 0 });
    try {
      expect(nicer()).toBe(before);
    } finally {
      await calm.close();
    }
    // The two workers of the file's engine.
    expect(before).toBeGreaterThanOrEqual(2);
  });

  it("does a forwardBackward / optimStep / sample round trip identical to the in-thread core", async () => {
    const config = tinyConfig();
    await engine.createRun("w1", config);
    const fb = await engine.forwardBackward("w1", QA_PAIRS);
    const step = await engine.optimStep("w1");
    expect(step.step).toBe(1);
    const sample = await engine.sample({ runId: "w1" }, ["Q: cat?\nA:"], params);
    const state = await engine.exportState("w1");

    const core = await sharedCore();
    core.createRun("w1", config);
    expect(core.forwardBackward("w1", QA_PAIRS)).toEqual(fb);
    core.optimStep("w1");
    expect(core.sample({ runId: "w1" }, ["Q: cat?\nA:"], params)).toEqual(sample);
    expect(Buffer.from(core.exportState("w1").adapter).equals(Buffer.from(state.adapter))).toBe(true);
  });

  it("loads a frozen adapter on every worker, so concurrent samples of it all answer alike", async () => {
    await engine.createRun("w5", tinyConfig());
    await engine.trainStep("w5", QA_PAIRS);
    const { adapter } = await engine.exportState("w5");
    await engine.loadAdapter("w5@1", tinyConfig(), adapter);
    const live = await engine.sample({ runId: "w5" }, ["Q: cat?\nA:"], params);
    // Several in flight at once: they spread over both workers, and each worker has the adapter.
    const frozen = await Promise.all(Array.from({ length: 6 }, () => engine.sample({ adapterKey: "w5@1" }, ["Q: cat?\nA:"], params)));
    for (const result of frozen) expect(result).toEqual(live);
    await engine.unloadAdapter("w5@1");
    await expect(engine.sample({ adapterKey: "w5@1" }, ["x"], params)).rejects.toMatchObject({ code: "adapter_not_found" });
  });

  it("streams tokens before the sample promise resolves", async () => {
    await engine.createRun("w2", tinyConfig());
    const events: TokenEvent[] = [];
    let resolved = false;
    // Enough work (16 × up to 200 tokens) that the worker is still decoding when the first events arrive.
    const prompts = Array.from({ length: 16 }, () => "hello");
    const done = engine.sample({ runId: "w2" }, prompts, { ...params, max_tokens: 200 }, { onToken: (e) => events.push(e) }).then((r) => {
      resolved = true;
      return r;
    });
    const seenBefore: number[] = [];
    // Record how many events had arrived each time a message was handled, before resolution.
    while (!resolved) {
      await new Promise((r) => setImmediate(r));
      if (!resolved) seenBefore.push(events.length);
    }
    const result = await done;
    expect(seenBefore.reduce((a, b) => Math.max(a, b), 0)).toBeGreaterThan(0);
    const first = events.filter((e) => e.index === 0);
    expect(first.map((e) => e.delta).join("")).toBe(result.completions[0]!.text);
    expect(first.at(-1)!.finish_reason).toBe(result.completions[0]!.finish_reason);
  });

  it("rejects an aborted sample with EngineError aborted", async () => {
    await engine.createRun("w3", tinyConfig());
    const controller = new AbortController();
    // Enough work (32 × up to 200 tokens) that the worker is still decoding when the first token event reaches this thread.
    const prompts = Array.from({ length: 32 }, (_, i) => `a${i}`);
    const p = engine.sample({ runId: "w3" }, prompts, { ...params, max_tokens: 200 }, { signal: controller.signal, onToken: () => controller.abort() });
    await expect(p).rejects.toMatchObject({ code: "aborted" });
  });

  it("maps unknown runs and engine errors to EngineError", async () => {
    await expect(engine.optimStep("missing")).rejects.toBeInstanceOf(EngineError);
    await engine.createRun("w4", tinyConfig());
    await expect(engine.optimStep("w4")).rejects.toMatchObject({ name: "EngineError", code: "nothing_accumulated" });
    await expect(engine.forwardBackward("w4", [{ text: "x".repeat(300) }])).rejects.toMatchObject({ code: "context_length_exceeded", param: "batch[0]" });
    await expect(engine.createRun("w5", tinyConfig({ base_model: "nope" }))).rejects.toMatchObject({ code: "model_not_found" });
    await engine.dropRun("w4");
    await expect(engine.zeroGrad("w4")).rejects.toMatchObject({ code: "run_not_found" });
  });

  it("lists the built-in models", () => {
    const ids = engine.listModels().map((m) => m.id);
    expect(ids).toEqual(["signal-byte-base", "signal-byte-tiny"]);
    expect(engine.listModels()[0]).toMatchObject({ d_model: 128, n_layers: 2, n_heads: 4, context_length: 256, vocab_size: 259 });
  });
});
