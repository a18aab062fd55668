import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignalClient } from "../../src/index.js";
import type { Engine } from "../../src/server/engine/types.js";
import { type Reply, type TestServer, call, createTinyRun, startTestServer, testEngine } from "./helpers.js";

let engine: Engine;
let server: TestServer;
/** While closed, engine sampling calls wait here: they stay held, deterministically. */
let gate: { promise: Promise<void>; open: () => void } | undefined;
let waiting = 0;

function closeGate(): void {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  gate = { promise, open };
}

beforeAll(async () => {
  engine = await testEngine();
  const gated: Engine = Object.create(engine);
  gated.sample = async (...args) => {
    if (gate) {
      waiting++;
      await gate.promise;
      waiting--;
    }
    return engine.sample(...args);
  };
  server = await startTestServer(gated, { limits: { maxQueuedPerRun: 2, maxQueuedPerKey: 3, maxQueued: 4 } });
});
afterAll(async () => {
  gate?.open();
  await server?.dispose();
  await engine?.close();
});

const body = { prompts: ["Q: red?\nA:"], max_tokens: 4, temperature: 0 };
const sample = (runId: string, key = server.key): Promise<Reply> => call(server, "POST", `/v1/runs/${runId}/sample`, { body, key });

function expectRefused(reply: Reply, status: number, code: string): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  expect(reply.body.error.code).toBe(code);
  expect(Number(reply.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  expect(Number(reply.headers.get("retry-after-ms"))).toBeGreaterThan(0);
}

describe("queue limits", () => {
  it("refuse a run's, a key's and the server's excess with Retry-After, and take calls again once they finish", async () => {
    const [runA, runB, runC] = [await createTinyRun(server), await createTinyRun(server), await createTinyRun({ url: server.url, key: "sk-test-b" })];
    closeGate();
    const held = [sample(runA), sample(runA)];
    await expect.poll(() => waiting).toBe(2);
    expectRefused(await sample(runA), 503, "overloaded");

    held.push(sample(runB));
    await expect.poll(() => waiting).toBe(3);
    expectRefused(await sample(runB), 429, "rate_limited");

    held.push(sample(runC, "sk-test-b"));
    await expect.poll(() => waiting).toBe(4);
    expectRefused(await sample(runC, "sk-test-b"), 503, "overloaded");
    // Calls that do not use the engine are never refused for load.
    expect((await call(server, "GET", `/v1/runs/${runA}`)).status).toBe(200);
    expect((await call(server, "GET", "/v1/health")).status).toBe(200);

    gate!.open();
    gate = undefined;
    for (const reply of await Promise.all(held)) expect(reply.status).toBe(200);
    expect((await sample(runA)).status).toBe(200);
  });

  it("let the SDK's retries carry a burst far past the limits to success", async () => {
    const runId = await createTinyRun(server);
    const client = new SignalClient({ apiKey: server.key, baseUrl: server.url, maxRetries: 20 });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => client.sample(runId, [`Q: ${i}?\nA:`], { max_tokens: 4, temperature: 0 })));
    expect(results).toHaveLength(12);
    for (const texts of results) expect(texts).toHaveLength(1);
  });
});
