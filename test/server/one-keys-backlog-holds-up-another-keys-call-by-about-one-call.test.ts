import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATIONS, type OperationId } from "../../generated/operations.js";
import type { Engine } from "../../src/server/engine/types.js";
import { OPERATION_TRAITS } from "../../src/server/operation-traits.js";
import { type Reply, type TestServer, call, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// The probe: 200 concurrent `forward` calls of key A were all accepted (forward skipped
// admission), and key B's 1-token sample on its own run then waited behind all of them in the
// engine worker (87.5 s; normally 2 ms). Every engine-bound operation is now admitted, from a
// table derived from the spec, and the engine serves the keys with work waiting in turn.

let engine: Engine;
let server: TestServer;
let forwardsStarted = 0;
let forwardsDone = 0;
/** `forwardsDone` when each sample call's engine work ended. */
const doneAtSample: number[] = [];
/** While set, forward calls wait here (so they stay held, deterministically). */
let gate: Promise<void> | undefined;

beforeAll(async () => {
  engine = await testEngine();
  const watched: Engine = Object.create(engine);
  watched.forward = async (...args) => {
    forwardsStarted++;
    if (gate) await gate;
    try {
      return await engine.forward(...args);
    } finally {
      forwardsDone++;
    }
  };
  watched.sample = async (...args) => {
    try {
      return await engine.sample(...args);
    } finally {
      doneAtSample.push(forwardsDone);
    }
  };
  server = await startTestServer(watched, { limits: { maxQueuedPerKey: 40, maxHeldPerKey: 40, maxQueuedPerRun: 40, maxQueued: 80 } });
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

const keyB = { url: "", key: "sk-test-b" };

describe("admission", () => {
  it("takes every POST that computes (forward included) from the spec; tokenize, detokenize, GET and DELETE are free", () => {
    const engineBound = (Object.keys(OPERATIONS) as OperationId[]).filter((id) => OPERATION_TRAITS[id].admission === "engine").sort();
    const posts = Object.values(OPERATIONS)
      .filter((o) => o.method === "POST" && o.operationId !== "tokenize" && o.operationId !== "detokenize")
      .map((o) => o.operationId)
      .sort();
    expect(engineBound).toEqual(posts);
    expect(engineBound).toContain("forward");
  });

  it("bounds one key's forward calls like its other engine calls: past the key's limit, 429 with Retry-After", async () => {
    const runId = await createTinyRun(server);
    let open!: () => void;
    gate = new Promise<void>((resolve) => (open = resolve));
    const body = { batch: [{ text: "a b c" }] };
    // 41 calls while the engine holds them: exactly one, whichever arrives last, is refused.
    const replies = Array.from({ length: 41 }, () => call(server, "POST", `/v1/runs/${runId}/forward`, { body }));
    const refused = await Promise.race(replies);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("rate_limited");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    gate = undefined;
    open();
    const statuses = (await Promise.all(replies)).map((r) => r.status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(40);
  });
});

describe("fairness between keys", () => {
  it("key B's short sample waits for about one of key A's 30 queued forward passes, not all of them", async () => {
    keyB.url = server.url;
    const runA = await createTinyRun(server);
    expect((await call(server, "POST", `/v1/runs/${runA}/train_step`, { body: { batch: [{ text: "a b" }] } })).status).toBe(200);
    expect((await call(server, "POST", `/v1/runs/${runA}/checkpoints`, { body: { mode: "adapter" } })).status).toBe(201);
    const runB = await createTinyRun(keyB);
    // Forward on a checkpoint step does not wait in the run's queue: all 30 reach the engine at once.
    const batch = Array.from({ length: 16 }, (_, i) => ({ text: `${i} ${"abcdefghij".repeat(24)}` }));
    const startedBefore = forwardsStarted;
    const doneBefore = forwardsDone;
    const flood: Promise<Reply>[] = Array.from({ length: 30 }, () => call(server, "POST", `/v1/runs/${runA}/forward`, { body: { batch, step: 1 } }));
    await expect.poll(() => forwardsStarted - startedBefore, { timeout: 30_000 }).toBe(30);
    const sampled = await call(keyB, "POST", `/v1/runs/${runB}/sample`, { body: { prompts: ["Q"], max_tokens: 1 } });
    const aheadOfB = doneAtSample[doneAtSample.length - 1]! - doneBefore;
    expect(sampled.status).toBe(200);
    for (const reply of await Promise.all(flood)) expect(reply.status).toBe(200);
    // The call in progress when B's sample came, and at most one more (30 without fairness).
    expect(aheadOfB).toBeLessThanOrEqual(2);
  }, 120_000);
});
