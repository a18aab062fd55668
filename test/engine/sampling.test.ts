import { describe, expect, it } from "vitest";
import { CompletionText } from "../../src/server/engine/completion-text.js";
import type { EngineError, TokenEvent } from "../../src/server/engine/types.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

async function trainedRun(id: string) {
  const core = await sharedCore();
  core.createRun(id, tinyConfig({ learning_rate: 3e-2 }));
  for (let i = 0; i < 10; i++) core.trainStep(id, QA_PAIRS);
  return core;
}

describe("sampling", () => {
  it("greedy is deterministic and top_k 1 equals greedy", async () => {
    const core = await trainedRun("g");
    const greedy = core.sample({ runId: "g" }, ["Q: sun?\nA:", "hello"], { temperature: 0, max_tokens: 16 });
    expect(core.sample({ runId: "g" }, ["Q: sun?\nA:", "hello"], { temperature: 0, max_tokens: 16 })).toEqual(greedy);
    const topk = core.sample({ runId: "g" }, ["Q: sun?\nA:", "hello"], { temperature: 1.3, top_k: 1, max_tokens: 16, seed: 9 });
    expect(topk.completions.map((c) => c.tokens)).toEqual(greedy.completions.map((c) => c.tokens));
  });

  it("bounds completions by max_tokens, returns n samples per prompt and one logprob per token", async () => {
    const core = await trainedRun("n");
    const r = core.sample({ runId: "n" }, ["a", "b"], { temperature: 1, max_tokens: 5, n: 3, logprobs: true, seed: 1 });
    expect(r.completions.map((c) => [c.index, c.prompt_index])).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 1],
      [4, 1],
      [5, 1],
    ]);
    for (const c of r.completions) {
      expect(c.tokens.length).toBeLessThanOrEqual(5);
      expect(c.logprobs).toHaveLength(c.tokens.length);
      expect(c.logprobs!.every((l) => l <= 0)).toBe(true);
      if (c.finish_reason === "length") expect(c.tokens.length).toBe(5);
    }
    expect(new Set(r.completions.slice(0, 3).map((c) => c.tokens.join())).size).toBeGreaterThan(1);
    expect(r.completion_tokens).toBe(r.completions.reduce((a, c) => a + c.tokens.length, 0));
    expect(r.completions[0]!.logprobs).toBeDefined();
    expect(core.sample({ runId: "n" }, ["a"], { max_tokens: 2, seed: 1 }).completions[0]!.logprobs).toBeUndefined();
  });

  it("stops at a stop string and leaves it out of the text", async () => {
    const core = await sharedCore();
    core.createRun("stop", tinyConfig());
    const free = core.sample({ runId: "stop" }, ["Q: dog?\nA:"], { temperature: 0, max_tokens: 12 }).completions[0]!;
    expect(free.text.length).toBeGreaterThan(2);
    const stop = free.text.slice(1, 3);
    const events: TokenEvent[] = [];
    const r = core.sample({ runId: "stop" }, ["Q: dog?\nA:"], { temperature: 0, max_tokens: 12, stop: [stop] }, { onToken: (e) => events.push(e) });
    const c = r.completions[0]!;
    expect(c.finish_reason).toBe("stop");
    expect(c.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    expect(events.map((e) => e.delta).join("")).toBe(c.text);
    expect(events.at(-1)!.finish_reason).toBe("stop");
  });

  it("gives each seeded prompt the same output whatever else is in the batch and wherever it sits", async () => {
    const core = await trainedRun("b");
    const params = { temperature: 1, max_tokens: 24, seed: 42, n: 2 };
    const alone = core.sample({ runId: "b" }, ["Q: red?\nA:"], params).completions;
    const mixed = core.sample({ runId: "b" }, ["zzz", "Q: cat?\nA: meow and more", "Q: red?\nA:"], params).completions.filter((c) => c.prompt_index === 2);
    expect(mixed.map((c) => [c.text, c.tokens])).toEqual(alone.map((c) => [c.text, c.tokens]));
  });

  it("rejects prompts whose length plus max_tokens exceeds the context", async () => {
    const core = await trainedRun("ctx");
    expect(() => core.sample({ runId: "ctx" }, ["ok", "x".repeat(200)], { max_tokens: 100 })).toThrow(
      expect.objectContaining({ code: "context_length_exceeded", param: "prompts[1]", message: expect.stringMatching(/201 tokens.*100.*256/) }),
    );
  });

  it("aborts between steps with an `aborted` error", async () => {
    const core = await sharedCore();
    core.createRun("ab", tinyConfig());
    let n = 0;
    const run = () => core.sample({ runId: "ab" }, ["a"], { max_tokens: 50, temperature: 1, seed: 1 }, { isAborted: () => ++n > 3 });
    expect(run).toThrow(expect.objectContaining({ code: "aborted" }) as EngineError);
  });

  it("returns one mean-pooled vector per input", async () => {
    const core = await trainedRun("e");
    const v = core.embeddings({ runId: "e" }, ["one", "two", "one"]);
    expect(v).toHaveLength(3);
    expect(v[0]).toHaveLength(64);
    expect(v[0]).toEqual(v[2]);
    expect(v[0]).not.toEqual(v[1]);
  });
});

describe("streamed completion text", () => {
  it("never splits a multi-byte character", () => {
    const t = new CompletionText([]);
    const deltas = [...new TextEncoder().encode("aé€😀")].map((b) => t.push(b).delta);
    expect(deltas).toEqual(["a", "", "é", "", "", "€", "", "", "", "😀"]);
  });

  it("holds back a possible stop-string prefix until it is ruled out", () => {
    const t = new CompletionText(["END"]);
    const deltas = [..."abENxEND!"].map((ch) => t.push(ch.charCodeAt(0)));
    expect(deltas.map((d) => d.delta)).toEqual(["a", "b", "", "", "ENx", "", "", "", ""]);
    expect(deltas[7]!.stopped).toBe(true);
    expect(t.text).toBe("abENx");
  });
});
