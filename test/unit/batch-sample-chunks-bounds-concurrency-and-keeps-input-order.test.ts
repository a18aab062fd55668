import { describe, expect, it } from "vitest";
import { AsyncInferenceClient, BadRequestError, BatchSampleError, SignalClient } from "../../src/index.js";
import { BASE, KEY, RUN_ID, apiError, echoSampleFetch, sampleResponse, scriptedFetch } from "./helpers/scripted-fetch.js";

const prompts = Array.from({ length: 10 }, (_, i) => `p${i}`);

describe("batchSample", () => {
  it("sends chunks of batchSize and returns texts in input order even when chunks finish out of order", async () => {
    const sizes: number[] = [];
    const { fetch } = echoSampleFetch(async (chunk) => {
      sizes.push(chunk.length);
      // later chunks answer first
      await new Promise((r) => setTimeout(r, 30 - Number(chunk[0]!.slice(1)) * 3));
    });
    const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { batchSize: 4, concurrency: 3 });
    const out = await inference.batchSample(prompts, { max_tokens: 5 });
    expect(sizes.sort()).toEqual([2, 4, 4]);
    expect(out).toEqual(prompts.map((p) => `out:${p}`));
  });

  it("batchSize per call overrides the client's", async () => {
    const sizes: number[] = [];
    const { fetch, seen } = echoSampleFetch((chunk) => void sizes.push(chunk.length));
    const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { batchSize: 32 });
    await inference.batchSample(prompts, { max_tokens: 5 }, { batchSize: 3 });
    expect(sizes.sort()).toEqual([1, 3, 3, 3]);
    expect(JSON.parse(seen[0]!.body)).not.toHaveProperty("batchSize");
  });

  it("keeps at most `concurrency` chunks in flight", async () => {
    let inFlight = 0;
    let peak = 0;
    const { fetch } = echoSampleFetch(async () => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight -= 1;
    });
    const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { batchSize: 1, concurrency: 3 });
    await inference.batchSample(prompts);
    expect(peak).toBe(3);
  });

  it("a failed chunk fails the call naming its prompt indices, with the original error as cause", async () => {
    const { fetch } = scriptedFetch([
      async (_request, seen) => {
        const chunk = (JSON.parse(seen.body) as { prompts: string[] }).prompts;
        if (chunk.includes("p5")) return apiError(400, "invalid_request_error", "context_length_exceeded", "too long");
        return sampleResponse(chunk);
      },
    ]);
    const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { batchSize: 4, concurrency: 1 });
    const error = (await inference.batchSample(prompts).catch((e: unknown) => e)) as BatchSampleError;
    expect(error).toBeInstanceOf(BatchSampleError);
    expect(error.message).toContain("prompts 4..7");
    expect([error.startIndex, error.endIndex]).toEqual([4, 8]);
    expect(error.cause).toBeInstanceOf(BadRequestError);
  });

  it("Promise.all over several batchSample calls on one async client works", async () => {
    const { fetch } = echoSampleFetch(() => new Promise((r) => setTimeout(r, 5)));
    await using inference = new AsyncInferenceClient({ runId: RUN_ID, apiKey: KEY, baseUrl: BASE, fetch, batchSize: 2 });
    const groups = [["a", "b", "c"], ["d"], ["e", "f", "g", "h", "i"]];
    const results = await Promise.all(groups.map((g) => inference.batchSample(g, { max_tokens: 5 })));
    expect(results).toEqual(groups.map((g) => g.map((p) => `out:${p}`)));
  });

  it("n > 1 yields n texts per prompt, grouped by prompt", async () => {
    const { fetch } = echoSampleFetch();
    const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { batchSize: 1 });
    expect(await inference.batchSample(["a", "b"], { n: 2 })).toEqual(["out:a#0", "out:a#1", "out:b#0", "out:b#1"]);
  });
});
