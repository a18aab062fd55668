import { describe, expect, it } from "vitest";
import { SignalClient, SignalError } from "../../src/index.js";
import { BASE, KEY, RUN_ID, echoSampleFetch } from "./helpers/scripted-fetch.js";

function pinned(step: number | null = 100) {
  const sent: string[][] = [];
  const script = echoSampleFetch((prompts) => void sent.push(prompts));
  const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: script.fetch }).inference(RUN_ID, { step: step ?? undefined });
  return { inference, sent, seen: script.seen };
}

describe("the sample cache", () => {
  it("answers a repeated greedy prompt locally", async () => {
    const { inference, sent } = pinned();
    inference.enableCache();
    expect(await inference.sample(["a"], { temperature: 0, max_tokens: 8 })).toEqual(["out:a"]);
    expect(await inference.sample(["a"], { temperature: 0, max_tokens: 8 })).toEqual(["out:a"]);
    expect(sent).toEqual([["a"]]);
    expect(inference.getCacheStats()).toEqual({ cache_size: 1, hits: 1, misses: 1, hit_rate: 0.5, enabled: true });
  });

  it("sends only the misses of a partly cached batch and reassembles input order", async () => {
    const { inference, sent } = pinned();
    inference.enableCache();
    await inference.sample(["b", "d"], { seed: 1 });
    const out = await inference.sample(["a", "b", "c", "d", "a"], { seed: 1 });
    expect(out).toEqual(["out:a", "out:b", "out:c", "out:d", "out:a"]);
    expect(sent).toEqual([
      ["b", "d"],
      ["a", "c"],
    ]);
  });

  it("keys on normalized parameters: defaults spelt out hit, other values miss", async () => {
    const { inference, sent } = pinned();
    inference.enableCache();
    await inference.sample(["a"], { temperature: 0 });
    await inference.sample(["a"], { temperature: 0, max_tokens: 64, top_p: 1 });
    await inference.sample(["a"], { temperature: 0, max_tokens: 65 });
    expect(sent).toHaveLength(2);
  });

  it("keys on the step: a per-call step override is a different entry", async () => {
    const { inference, sent, seen } = pinned(100);
    inference.enableCache();
    await inference.sample(["a"], { temperature: 0 });
    await inference.sample(["a"], { temperature: 0, step: 50 });
    expect(sent).toHaveLength(2);
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ step: 100 });
    expect(JSON.parse(seen[1]!.body)).toMatchObject({ step: 50 });
  });

  it("does not cache unseeded sampling at temperature > 0 unless asked to", async () => {
    const { inference, sent } = pinned();
    inference.enableCache();
    await inference.sample(["a"]);
    await inference.sample(["a"]);
    expect(sent).toHaveLength(2);
    inference.disableCache();
    inference.enableCache({ nondeterministic: true });
    await inference.sample(["a"]);
    await inference.sample(["a"]);
    expect(sent).toHaveLength(3);
  });

  it("is bounded by maxEntries (LRU)", async () => {
    const { inference, sent } = pinned();
    inference.enableCache({ maxEntries: 2 });
    await inference.sample(["a", "b", "c"], { temperature: 0 });
    expect(inference.getCacheStats().cache_size).toBe(2);
    await inference.sample(["a"], { temperature: 0 });
    expect(sent).toEqual([["a", "b", "c"], ["a"]]);
  });

  it("is refused with a clear error when no step is pinned", () => {
    const { inference } = pinned(null);
    expect(() => inference.enableCache()).toThrow(SignalError);
    expect(() => inference.enableCache()).toThrow(/step.*optim_step/);
    expect(inference.getCacheStats().enabled).toBe(false);
  });

  it("clearCache empties it and resets the counters; disableCache turns it off", async () => {
    const { inference, sent } = pinned();
    inference.enableCache();
    await inference.sample(["a"], { temperature: 0 });
    inference.clearCache();
    expect(inference.getCacheStats()).toEqual({ cache_size: 0, hits: 0, misses: 0, hit_rate: 0, enabled: true });
    inference.disableCache();
    await inference.sample(["a"], { temperature: 0 });
    await inference.sample(["a"], { temperature: 0 });
    expect(sent).toHaveLength(3);
    expect(inference.getCacheStats().enabled).toBe(false);
  });

  it("batchSample goes through the cache chunk by chunk", async () => {
    const { inference, sent } = pinned();
    inference.enableCache();
    await inference.sample(["p1"], { temperature: 0 });
    const out = await inference.batchSample(["p0", "p1", "p2"], { temperature: 0 }, { batchSize: 2 });
    expect(out).toEqual(["out:p0", "out:p1", "out:p2"]);
    expect(sent.slice(1).sort()).toEqual([["p0"], ["p2"]]);
  });
});
