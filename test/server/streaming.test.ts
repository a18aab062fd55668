import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { EngineError, type Engine, type SampleResult } from "../../src/server/engine/types.js";
import { QA, type TestServer, call, conform, createTinyRun, startTestServer, testEngine, watchSamples } from "./helpers.js";

let engine: Engine;
let server: TestServer;
let runId: string;
/** Outcomes of the engine's sample calls, so a test can see generation stop. */
let sampleOutcomes: Promise<SampleResult | EngineError>[];

beforeAll(async () => {
  engine = await testEngine();
  const watched = watchSamples(engine);
  sampleOutcomes = watched.outcomes;
  server = await startTestServer(watched.engine);
  runId = await createTinyRun(server);
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

function post(pathname: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(server.url + pathname, {
    method: "POST",
    headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** Parses the `data:` payloads of an event-stream text. */
function events(text: string): string[] {
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("data: "))
    .map((block) => block.slice("data: ".length));
}

describe("streamed sampling", () => {
  it("sends valid chunks, the same text as a plain sample, then [DONE]", async () => {
    const body = { prompts: ["Q: red?\nA:", "Q: sky?\nA:"], max_tokens: 20, temperature: 0 };
    const response = await post(`/v1/runs/${runId}/sample`, { ...body, stream: true });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const data = events(await response.text());
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => conform(gen.zSampleChunk, JSON.parse(d)));
    const texts = ["", ""];
    for (const c of chunks) texts[c.index] += c.delta;
    expect(chunks.filter((c) => c.finish_reason !== null)).toHaveLength(2);
    const plain = conform(gen.zSampleResponse, (await call(server, "POST", `/v1/runs/${runId}/sample`, { body })).body);
    expect(texts).toEqual(plain.samples.map((s) => s.text));
  });

  it("flushes the first chunk before generation ends", async () => {
    const response = await post(`/v1/runs/${runId}/sample`, { prompts: ["a"], max_tokens: 200, temperature: 1, seed: 3, stream: true });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toMatch(/^data: \{/);
    expect(first).not.toContain("[DONE]");
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toContain("data: [DONE]");
  });

  it("stops generating when the client goes away", async () => {
    const abort = new AbortController();
    const before = sampleOutcomes.length;
    // Enough work (64 × up to 250 tokens) that the engine is still decoding when the abort arrives.
    const prompts = Array.from({ length: 64 }, (_, i) => `a${i}`);
    const response = await post(`/v1/runs/${runId}/sample`, { prompts, max_tokens: 250, temperature: 1, seed: 4, stream: true }, abort.signal);
    const reader = response.body!.getReader();
    await reader.read();
    abort.abort();
    const outcome = await sampleOutcomes[before]!;
    expect(outcome).toBeInstanceOf(EngineError);
    expect((outcome as EngineError).code).toBe("aborted");
    expect((await call(server, "GET", "/v1/health")).status).toBe(200);
  });

  it("answers an error found before the first token as plain JSON with its status", async () => {
    const response = await post(`/v1/runs/${runId}/sample`, { prompts: ["x".repeat(250)], max_tokens: 32, stream: true });
    expect(response.status).toBe(400);
    expect(conform(gen.zError, await response.json()).error.code).toBe("context_length_exceeded");
  });

  it("streams OpenAI-style completion chunks", async () => {
    const response = await post("/v1/completions", {
      model: runId,
      prompt: QA[0]!.prompt,
      max_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const data = events(await response.text());
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => conform(gen.zCompletionResponse, JSON.parse(d)));
    expect(chunks.at(-1)!.usage?.completion_tokens).toBeGreaterThan(0);
    expect(chunks.every((c) => c.object === "text_completion" && c.model === runId)).toBe(true);
  });
});

describe("a long training step", () => {
  it("does not hold up getHealth", async () => {
    const base = (await call(server, "POST", "/v1/runs", { body: { base_model: "signal-byte-base" } })).body.run_id as string;
    const batch = Array.from({ length: 8 }, (_, i) => ({ text: `${"long training text ".repeat(6)}${i}` }));
    let stepDone = false;
    const step = call(server, "POST", `/v1/runs/${base}/train_step`, { body: { batch } }).then((r) => {
      stepDone = true;
      return r;
    });
    const healthStarted = performance.now();
    const health = await call(server, "GET", "/v1/health", { key: null });
    const healthMs = performance.now() - healthStarted;
    expect(health.status).toBe(200);
    expect(stepDone).toBe(false);
    expect((await step).status).toBe(200);
    expect(healthMs).toBeLessThan(500);
  });
});
