import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError, type Engine, type SampleResult } from "../../src/server/engine/types.js";
import { type TestServer, call, createTinyRun, startTestServer, testEngine, watchSamples } from "./helpers.js";

let engine: Engine;
let server: TestServer;
let runId: string;
/** Outcomes of the engine's sample calls, so a test can see generation stop. */
let outcomes: Promise<SampleResult | EngineError>[];

beforeAll(async () => {
  engine = await testEngine();
  const watched = watchSamples(engine);
  outcomes = watched.outcomes;
  server = await startTestServer(watched.engine);
  runId = await createTinyRun(server);
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

/** A sampling call that keeps the worker busy for seconds. */
const LONG = { prompts: Array.from({ length: 32 }, (_, i) => `prompt ${i}`), n: 8, max_tokens: 240, temperature: 1, seed: 1 };

function postSample(body: unknown, signal: AbortSignal): Promise<unknown> {
  return fetch(`${server.url}/v1/runs/${runId}/sample`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  }).catch((error: unknown) => error);
}

describe("a non-streamed sample whose client has gone", () => {
  it("is aborted in the engine, running or still queued behind another, and the worker serves the next call", async () => {
    const before = outcomes.length;
    const abort = new AbortController();
    const requests = [postSample(LONG, abort.signal), postSample({ ...LONG, seed: 2 }, abort.signal)];
    await expect.poll(() => outcomes.length).toBe(before + 2);
    abort.abort();
    await Promise.all(requests);
    const [running, queued] = await Promise.all(outcomes.slice(before));
    expect(running).toBeInstanceOf(EngineError);
    expect((running as EngineError).code).toBe("aborted");
    expect(queued).toBeInstanceOf(EngineError);
    expect((queued as EngineError).code).toBe("aborted");
    const next = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["Q: red?\nA:"], max_tokens: 5 } });
    expect(next.status).toBe(200);
  });
});
