import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_ISSUES } from "../../src/internal/validate.js";
import type { Engine } from "../../src/server/engine/types.js";
import { type TestServer, call, createTinyRun, startTestServer, testEngine } from "../server/helpers.js";

// 63 examples of 65,536 token ids fit the 8 MiB body limit and the schema, and no model's
// context: checking 4 million ids one by one against the schema took seconds of blocked event
// loop before the engine refused the batch for its length; 4 million bad ids took over a minute.

let engine: Engine;
let server: TestServer;
let runId: string;
let engineTrainCalls = 0;

beforeAll(async () => {
  engine = await testEngine();
  const watched: Engine = Object.create(engine);
  watched.trainStep = (...args) => {
    engineTrainCalls++;
    return engine.trainStep(...args);
  };
  server = await startTestServer(watched);
  runId = await createTinyRun(server);
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

const huge = (value: number) => ({ batch: Array.from({ length: 63 }, () => ({ tokens: new Array<number>(65_536).fill(value) })) });

describe("a body of millions of token ids", () => {
  it("is refused with a 400 naming the example and the context, before the schema or the engine sees it", async () => {
    const reply = await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: huge(1) });
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe("context_length_exceeded");
    expect(reply.body.error.param).toBe("batch[0].tokens");
    expect(reply.body.error.message).toMatch(/65536 entries .* 256 tokens/);
    expect(engineTrainCalls).toBe(0);
  });

  it("of bad ids within the context is a 422 naming the first bad one, not one issue per id", async () => {
    const batch = Array.from({ length: 512 }, () => ({ tokens: new Array<number>(256).fill(-1) }));
    const reply = await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch } });
    expect(reply.status).toBe(422);
    expect(reply.body.error.param).toBe("batch[0].tokens[0]");
    // Validation stops after its first MAX_ISSUES issues, whatever the number of bad ids.
    const more = /\(and (?:at least )?(\d+) more\)/.exec(reply.body.error.message);
    expect(Number(more?.[1] ?? 0)).toBeLessThan(MAX_ISSUES);
  });

  it("leaves examples that fit to the schema and the engine", async () => {
    const reply = await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: [{ tokens: [1, 2, 3], weights: [0, 1, 1] }] } });
    expect(reply.status).toBe(200);
    expect(engineTrainCalls).toBe(1);
  });
});
