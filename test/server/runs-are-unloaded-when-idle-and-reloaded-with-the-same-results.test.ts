import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/server/engine/types.js";
import { QA, type TestServer, call, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// The engine used to keep every run it ever loaded. Now the least recently used run is unloaded
// past `maxLoadedRuns`, any run idle for `runIdleMs` too, and the next call reloads it from the
// store: the results are those of a run that was never unloaded, bit for bit.

/** `engine` with the runs it holds counted (created or loaded, not yet dropped). */
function countLoaded(engine: Engine): { engine: Engine; loaded: Set<string>; most: () => number; loads: (runId?: string) => number } {
  const loaded = new Set<string>();
  let most = 0;
  const loads: string[] = [];
  const counted: Engine = Object.create(engine);
  const add = (runId: string) => {
    loaded.add(runId);
    most = Math.max(most, loaded.size);
  };
  counted.createRun = async (runId, config) => {
    const state = await engine.createRun(runId, config);
    add(runId);
    return state;
  };
  counted.loadRun = async (runId, config, state) => {
    await engine.loadRun(runId, config, state);
    loads.push(runId);
    add(runId);
  };
  counted.dropRun = async (runId) => {
    loaded.delete(runId);
    await engine.dropRun(runId);
  };
  return { engine: counted, loaded, most: () => most, loads: (runId) => loads.filter((id) => runId === undefined || id === runId).length };
}

let engine: Engine;
let bounded: TestServer;
let unbounded: TestServer;
let boundedCount: ReturnType<typeof countLoaded>;
let unboundedCount: ReturnType<typeof countLoaded>;

beforeAll(async () => {
  engine = await testEngine();
  boundedCount = countLoaded(engine);
  unboundedCount = countLoaded(engine);
  bounded = await startTestServer(boundedCount.engine, { limits: { maxLoadedRuns: 2, runIdleMs: Infinity } });
  unbounded = await startTestServer(unboundedCount.engine, { limits: { runIdleMs: Infinity } });
});
afterAll(async () => {
  await bounded?.dispose();
  await unbounded?.dispose();
  await engine?.close();
});

/** The calls made on one run, in turn with `between` (which uses other runs); their answers. */
async function session(server: TestServer, runId: string, between: () => Promise<void>): Promise<unknown[]> {
  const post = async (op: string, body: unknown) => {
    const reply = await call(server, "POST", `/v1/runs/${runId}/${op}`, { body });
    expect(reply.status, `${op}: ${JSON.stringify(reply.body)}`).toBe(200);
    await between();
    return reply.body;
  };
  const answers: unknown[] = [];
  // Gradients accumulated before an unload must be applied by the optimizer step after it.
  answers.push(await post("forward_backward", { batch: QA.slice(0, 2) }));
  answers.push(await post("forward_backward", { batch: QA.slice(2) }));
  answers.push(await post("optim_step", {}));
  answers.push(await post("train_step", { batch: QA }));
  answers.push(await post("sample", { prompts: ["Q: red?\nA:", "Q: gold?\nA:"], n: 2, max_tokens: 12, temperature: 1, seed: 9, logprobs: true }));
  answers.push(await post("forward", { batch: QA.slice(0, 1) }));
  answers.push(await post("train_step", { batch: QA }));
  answers.push(await post("sample", { prompts: ["Q: blue?\nA:"], max_tokens: 12, temperature: 0 }));
  return answers.map((a) => {
    const { run_id: _ignored, ...rest } = a as Record<string, unknown>;
    return rest;
  });
}

describe("runs unloaded from the engine", () => {
  it("past maxLoadedRuns the least recently used run is unloaded, and reloaded with bit-identical results", async () => {
    const others = [await createTinyRun(bounded), await createTinyRun(bounded), await createTinyRun(bounded)];
    const target = await createTinyRun(bounded);
    // Between two calls on the target, the three other runs are used: the target is unloaded each time.
    const useOthers = async () => {
      for (const other of others) {
        const reply = await call(bounded, "POST", `/v1/runs/${other}/sample`, { body: { prompts: ["x"], max_tokens: 2, seed: 1 } });
        expect(reply.status).toBe(200);
      }
      expect(boundedCount.loaded.has(target)).toBe(false);
    };
    const unloadedEachTime = await session(bounded, target, useOthers);
    const neverUnloaded = await session(unbounded, await createTinyRun(unbounded), async () => {});

    expect(unloadedEachTime).toEqual(neverUnloaded);
    // Loaded again for each of the 7 calls after the first.
    expect(boundedCount.loads(target)).toBe(7);
    expect(unboundedCount.loads()).toBe(0);
    // At most the cap, plus the run being loaded while the least recently used one is dropped.
    expect(boundedCount.most()).toBeLessThanOrEqual(3);
  });

  it("a run idle for runIdleMs is unloaded, and the next call reloads it", async () => {
    const watched = countLoaded(engine);
    const server = await startTestServer(watched.engine, { limits: { runIdleMs: 50 } });
    try {
      const runId = await createTinyRun(server);
      const first = await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
      expect(first.status).toBe(200);
      await expect.poll(() => watched.loaded.size, { timeout: 10_000 }).toBe(0);
      const again = await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
      expect(again.status).toBe(200);
      expect(again.body.step).toBe(first.body.step + 1);
      expect(watched.loads()).toBeGreaterThanOrEqual(1);
    } finally {
      await server.dispose();
    }
  });
});
