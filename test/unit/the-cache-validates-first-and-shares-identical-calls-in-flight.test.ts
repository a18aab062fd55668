import { describe, expect, it } from "vitest";
import { SignalClient, ValidationError } from "../../src/index.js";
import { BASE, echoSampleFetch, KEY, RUN_ID } from "./helpers/scripted-fetch.js";

function cachedClient(onRequest?: (prompts: string[]) => void | Promise<void>) {
  const { fetch, seen } = echoSampleFetch(onRequest);
  const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { step: 100 });
  inference.enableCache();
  return { inference, seen };
}

describe("with the cache on", () => {
  it("bad sampling parameters are a ValidationError naming the field (not a raw schema error), and nothing is sent", async () => {
    const { inference, seen } = cachedClient();
    const error = await inference.sample(["a"], { temperature: -1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toBe("temperature");
    await expect(inference.sample(["a"], { max_tokens: "8" as unknown as number, temperature: 0 })).rejects.toThrow(/^sample: max_tokens/);
    expect(seen).toHaveLength(0);
  });

  it("two identical cacheable calls in flight send one request and get the same texts", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { inference, seen } = cachedClient(() => gate);
    const one = inference.sample(["a", "b"], { temperature: 0 });
    const two = inference.sample(["b", "a"], { temperature: 0 });
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    release();
    expect([...(await one)]).toEqual(["out:a", "out:b"]);
    expect([...(await two)]).toEqual(["out:b", "out:a"]);
    expect(seen).toHaveLength(1);
    expect(inference.getCacheStats()).toMatchObject({ cache_size: 2, hits: 2, misses: 2 });
  });

  it("a call overlapping one in flight sends only the prompts nobody is asking for yet", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const sent: string[][] = [];
    const { inference } = cachedClient(async (prompts) => {
      sent.push(prompts);
      await gate;
    });
    const one = inference.sample(["a"], { temperature: 0 });
    const two = inference.sample(["a", "c"], { temperature: 0 });
    release();
    await Promise.all([one, two]);
    expect(sent).toEqual([["a"], ["c"]]);
    const { response } = await inference.sample(["a", "c"], { temperature: 0 }).withResponse();
    expect(response.headers.get("x-signal-cache")).toBe("hit");
  });
});
