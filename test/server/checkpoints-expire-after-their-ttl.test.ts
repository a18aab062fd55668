import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { NotFoundError, SignalClient } from "../../src/index.js";
import type { Engine } from "../../src/server/engine/types.js";
import { QA, type TestServer, call, conform, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// Checkpoint lifetimes on a clock the test moves: nothing sleeps, and what a request answers
// never depends on when the background removal runs.

const T0 = Date.parse("2026-12-01T00:00:00.000Z");
let now = T0;
const clock = () => now;
let engine: Engine;
const servers: TestServer[] = [];

beforeAll(async () => {
  engine = await testEngine();
});
afterAll(async () => {
  for (const server of servers) await server.dispose().catch(() => undefined);
  await engine.close();
});

async function serve(options: Parameters<typeof startTestServer>[1] = {}): Promise<TestServer> {
  const server = await startTestServer(engine, { clock, ...options });
  servers.push(server);
  return server;
}

/** Trains one step and saves a checkpoint at it with `ttl_seconds` (none: it never expires). */
async function trainAndSave(server: TestServer, runId: string, ttl?: number, mode: "adapter" | "state" = "adapter") {
  expect((await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } })).status).toBe(200);
  const saved = await call(server, "POST", `/v1/runs/${runId}/checkpoints`, { body: ttl === undefined ? { mode } : { mode, ttl_seconds: ttl } });
  expect(saved.status).toBe(201);
  return conform(gen.zCreateCheckpointResponse, saved.body);
}

/** The checkpoint directories of a run on disk. */
async function checkpointDirs(server: TestServer, runId: string): Promise<string[]> {
  return (await readdir(path.join(server.dataDir, "runs", runId, "checkpoints")).catch(() => [] as string[])).sort();
}

function expectExpired(reply: { status: number; body: any }, step: number, expiresAt: string, param = "step"): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(404);
  expect(reply.body.error.code).toBe("checkpoint_expired");
  expect(reply.body.error.param).toBe(param);
  expect(reply.body.error.message).toContain(`step ${step} expired at ${expiresAt}`);
}

describe.each([
  ["on disk", {}],
  ["in memory", { dataDir: ":memory:" }],
] as const)("a checkpoint with ttl_seconds (store %s)", (_name, storeOptions) => {
  let server: TestServer;
  beforeAll(async () => {
    now = T0;
    server = await serve(storeOptions);
  });

  it("carries expires_at = save time + ttl; one saved without it has expires_at null", async () => {
    const runId = await createTinyRun(server);
    const lasting = await trainAndSave(server, runId);
    expect(lasting.expires_at).toBeNull();
    const brief = await trainAndSave(server, runId, 60);
    expect(brief.expires_at).toBe(new Date(T0 + 60_000).toISOString());
    const listed = conform(gen.zListCheckpointsResponse, (await call(server, "GET", `/v1/runs/${runId}/checkpoints`)).body);
    expect(listed.data.map((c) => [c.step, c.expires_at])).toEqual([
      [1, null],
      [2, brief.expires_at],
    ]);
  });

  it("is served until it expires, then is a 404 checkpoint_expired from get, download, restore, sampling, forward, completions and from_checkpoint, and unlisted", async () => {
    now = T0;
    const runId = await createTinyRun(server);
    await trainAndSave(server, runId);
    const brief = await trainAndSave(server, runId, 30, "state");
    const expiresAt = brief.expires_at!;
    const reads = {
      get: () => call(server, "GET", `/v1/runs/${runId}/checkpoints/2`),
      download: () => call(server, "GET", `/v1/runs/${runId}/checkpoints/2/content`),
      restore: () => call(server, "POST", `/v1/runs/${runId}/restore`, { body: { step: 2 } }),
      sample: () => call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["Q: red?\nA:"], max_tokens: 2, temperature: 0, step: 2 } }),
      forward: () => call(server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: QA, step: 2 } }),
      embeddings: () => call(server, "POST", `/v1/runs/${runId}/embeddings`, { body: { inputs: ["a"], step: 2 } }),
    };
    now = T0 + 29_999;
    for (const [name, read] of Object.entries(reads)) expect((await read()).status, name).toBe(200);

    now = T0 + 30_000;
    for (const [name, read] of Object.entries(reads)) {
      const reply = await read();
      expect(reply.status, name).toBe(404);
      expectExpired(reply, 2, expiresAt);
    }
    expectExpired(await call(server, "POST", "/v1/completions", { body: { model: `${runId}@2`, prompt: "a", max_tokens: 2 } }), 2, expiresAt, "model");
    expectExpired(await call(server, "POST", "/v1/runs", { body: { from_checkpoint: { run_id: runId, step: 2 } } }), 2, expiresAt, "from_checkpoint.step");
    const listed = conform(gen.zListCheckpointsResponse, (await call(server, "GET", `/v1/runs/${runId}/checkpoints`)).body);
    expect(listed.data.map((c) => c.step)).toEqual([1]);
    // The one without a lifetime is untouched, and the run trains on.
    expect((await call(server, "GET", `/v1/runs/${runId}/checkpoints/1/content`)).status).toBe(200);
    expect((await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } })).status).toBe(200);
    // Still named as expired once the removal has run (its files are gone).
    if (server.dataDir !== ":memory:") await vi.waitFor(async () => expect((await checkpointDirs(server, runId)).map((d) => d.split("-")[0])).toEqual(["1"]));
    expectExpired(await call(server, "GET", `/v1/runs/${runId}/checkpoints/2`), 2, expiresAt);
    // A new checkpoint at that step is a new one, not the expired one.
    expect((await call(server, "POST", `/v1/runs/${runId}/restore`, { body: { step: 1 } })).status).toBe(200);
    await trainAndSave(server, runId);
    expect((await call(server, "GET", `/v1/runs/${runId}/checkpoints/2`)).status).toBe(200);
  });

  it("gets a new lifetime or none from setCheckpointTtl (SDK), and an expired one cannot be revived", async () => {
    now = T0;
    const client = new SignalClient({ apiKey: server.key, baseUrl: server.url, maxRetries: 0 });
    try {
      const run = await client.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02 });
      await run.trainBatch(QA);
      const saved = await run.saveState({ ttl_seconds: 10 });
      expect(saved.expires_at).toBe(new Date(T0 + 10_000).toISOString());

      now = T0 + 5_000;
      const extended = await client.setCheckpointTtl(run.run_id, 1, 3600);
      expect(extended.expires_at).toBe(new Date(T0 + 5_000 + 3_600_000).toISOString());
      expect((await run.getCheckpoint(1)).expires_at).toBe(extended.expires_at);

      const forever = await run.setCheckpointTtl(1, null);
      expect(forever.expires_at).toBeNull();
      now = T0 + 10 * 365 * 24 * 3600 * 1000;
      expect((await run.getCheckpoint(1)).expires_at).toBeNull();

      const training = run.training();
      await training.trainBatch(QA);
      const short = await training.saveCheckpoint({ ttl_seconds: 1 });
      const shortened = await training.setCheckpointTtl(short.step, 2);
      expect(shortened.expires_at).toBe(new Date(now + 2_000).toISOString());
      await training.close();
      now += 2_000;
      const refused = await client.setCheckpointTtl(run.run_id, short.step, 3600).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(NotFoundError);
      expect((refused as NotFoundError).code).toBe("checkpoint_expired");
      const missing = await client.setCheckpointTtl(run.run_id, 99, 60).catch((error: unknown) => error);
      expect((missing as NotFoundError).code).toBe("checkpoint_not_found");
    } finally {
      await client.close();
    }
  });

  it("refuses a ttl_seconds below 1 or past ten years, naming it", async () => {
    const runId = await createTinyRun(server);
    for (const ttl of [0, -5, 1.5, 315_360_001, "60"]) {
      const reply = await call(server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { ttl_seconds: ttl } });
      expect(reply.status, String(ttl)).toBe(422);
      expect(reply.body.error.param).toBe("ttl_seconds");
    }
  });
});

describe("removal of expired checkpoints' files", () => {
  it("happens in the background for a checkpoint no request asks for", async () => {
    now = T0;
    const server = await serve({ checkpointSweepMs: 20 });
    const runId = await createTinyRun(server);
    await trainAndSave(server, runId, 60);
    await trainAndSave(server, runId);
    expect(await checkpointDirs(server, runId)).toHaveLength(2);
    now = T0 + 61_000;
    await vi.waitFor(async () => expect((await checkpointDirs(server, runId)).map((d) => d.split("-")[0])).toEqual(["2"]));
  });

  it("finishes after a restart, and a crash between unlisting and deleting leaves nothing listed that is gone", async () => {
    now = T0;
    let server = await serve();
    const dataDir = server.dataDir;
    const runId = await createTinyRun(server);
    const saved = await trainAndSave(server, runId, 60);
    await server.close();
    const [dir] = await checkpointDirs(server, runId);
    const aside = await mkdtemp(path.join(tmpdir(), "signal-expired-copy-"));
    await cp(path.join(dataDir, "runs", runId, "checkpoints", dir!), aside, { recursive: true });

    // Down while it expired (a crash before its removal committed): the restarted server
    // answers checkpoint_expired at once and removes it.
    now = T0 + 120_000;
    server = await serve({ dataDir });
    expectExpired(await call(server, "GET", `/v1/runs/${runId}/checkpoints/1`), 1, saved.expires_at!);
    await vi.waitFor(async () => expect(await checkpointDirs(server, runId)).toEqual([]));
    await server.close();

    // A crash after the removal committed, partway through deleting the files: the files are
    // back (one of them only), no row names them, and opening the store deletes them.
    const partial = path.join(dataDir, "runs", runId, "checkpoints", dir!);
    await cp(path.join(aside, "adapter_model.safetensors"), path.join(partial, "adapter_model.safetensors"));
    await rm(aside, { recursive: true, force: true });
    expect(await checkpointDirs(server, runId)).toEqual([dir]);
    server = await serve({ dataDir });
    expect(await checkpointDirs(server, runId)).toEqual([]);
    expectExpired(await call(server, "GET", `/v1/runs/${runId}/checkpoints/1`), 1, saved.expires_at!);
    expect(conform(gen.zListCheckpointsResponse, (await call(server, "GET", `/v1/runs/${runId}/checkpoints`)).body).data).toEqual([]);
    expect((await call(server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(1);
  });
});
