import { beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import type { OperationId } from "../../generated/operations.js";
import { ROUTES } from "../../src/server/http/routes.js";
import { QA, type Reply, call, conform, createTinyRun, useTestServer } from "../server/helpers.js";

let runId: string;
const OTHER = { key: "sk-test-b" };

/** A set-up call that must succeed, or every test after it would fail for the wrong reason. */
async function setUp(reply: Promise<{ status: number; body: unknown }>): Promise<void> {
  const { status, body } = await reply;
  if (status >= 300) throw new Error(`set-up call failed: ${status} ${JSON.stringify(body)}`);
}

const fixture = useTestServer();
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
  await setUp(call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } }));
  await setUp(call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "state" } }));
  // Something accumulated, so a foreign optim_step or zero_grad would have work to do.
  await setUp(call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA } }));
});

type Attempt = { method: string; path: string; body?: unknown };
/** Every operation that names a run, as another key would call it on `id`; several ways for some. */
const attempts: Partial<Record<OperationId, (id: string) => Attempt[]>> = {
  getRun: (id) => [{ method: "GET", path: `/v1/runs/${id}` }],
  updateRun: (id) => [{ method: "POST", path: `/v1/runs/${id}`, body: { name: "taken" } }],
  deleteRun: (id) => [{ method: "DELETE", path: `/v1/runs/${id}` }],
  watchRun: (id) => [{ method: "GET", path: `/v1/runs/${id}/events` }],
  forwardBackward: (id) => [{ method: "POST", path: `/v1/runs/${id}/forward_backward`, body: { batch: QA } }],
  optimStep: (id) => [{ method: "POST", path: `/v1/runs/${id}/optim_step`, body: {} }],
  trainStep: (id) => [{ method: "POST", path: `/v1/runs/${id}/train_step`, body: { batch: QA } }],
  zeroGrad: (id) => [{ method: "POST", path: `/v1/runs/${id}/zero_grad` }],
  forward: (id) => [
    { method: "POST", path: `/v1/runs/${id}/forward`, body: { batch: QA } },
    { method: "POST", path: `/v1/runs/${id}/forward`, body: { batch: QA, step: 1 } },
  ],
  listMetrics: (id) => [{ method: "GET", path: `/v1/runs/${id}/metrics` }],
  createCheckpoint: (id) => [{ method: "POST", path: `/v1/runs/${id}/checkpoints`, body: { mode: "state" } }],
  listCheckpoints: (id) => [{ method: "GET", path: `/v1/runs/${id}/checkpoints` }],
  getCheckpoint: (id) => [{ method: "GET", path: `/v1/runs/${id}/checkpoints/1` }],
  downloadCheckpoint: (id) => [{ method: "GET", path: `/v1/runs/${id}/checkpoints/1/content` }],
  deleteCheckpoint: (id) => [{ method: "DELETE", path: `/v1/runs/${id}/checkpoints/1` }],
  restoreCheckpoint: (id) => [{ method: "POST", path: `/v1/runs/${id}/restore`, body: { step: 1 } }],
  setCheckpointTtl: (id) => [{ method: "POST", path: `/v1/runs/${id}/checkpoints/1`, body: { ttl_seconds: null } }],
  importAdapter: (id) => [{ method: "POST", path: `/v1/runs/${id}/adapter`, body: { adapter: "AAAA" } }],
  // A run started from another key's checkpoint: the source run is not found, named as such.
  createRun: (id) => [{ method: "POST", path: "/v1/runs", body: { from_checkpoint: { run_id: id, step: 1 } } }],
  sample: (id) => [
    { method: "POST", path: `/v1/runs/${id}/sample`, body: { prompts: ["Q: red?\nA:"], max_tokens: 2 } },
    { method: "POST", path: `/v1/runs/${id}/sample`, body: { prompts: ["Q: red?\nA:"], max_tokens: 2, step: 1 } },
    { method: "POST", path: `/v1/runs/${id}/sample`, body: { prompts: ["Q: red?\nA:"], max_tokens: 2, stream: true } },
  ],
  createEmbeddings: (id) => [
    { method: "POST", path: `/v1/runs/${id}/embeddings`, body: { inputs: ["a"] } },
    { method: "POST", path: `/v1/runs/${id}/embeddings`, body: { inputs: ["a"], step: 1 } },
  ],
  createCompletion: (id) => [
    { method: "POST", path: "/v1/completions", body: { model: id, prompt: "a", max_tokens: 2 } },
    { method: "POST", path: "/v1/completions", body: { model: `${id}@1`, prompt: "a", max_tokens: 2 } },
    { method: "POST", path: "/v1/completions", body: { model: id, prompt: ["a", "b"], max_tokens: 2, stream: true } },
  ],
  createChatCompletion: (id) => [
    { method: "POST", path: "/v1/chat/completions", body: { model: id, messages: [{ role: "user", content: "a" }], max_tokens: 2 } },
    { method: "POST", path: "/v1/chat/completions", body: { model: `${id}@1`, messages: [{ role: "user", content: "a" }], max_tokens: 2 } },
    { method: "POST", path: "/v1/chat/completions", body: { model: id, messages: [{ role: "user", content: "a" }], max_tokens: 2, stream: true } },
  ],
};

function send(attempt: Attempt, who: { key: string }, headers: Record<string, string> = {}): Promise<Reply> {
  return call(fixture.server, attempt.method, attempt.path, { ...who, body: attempt.body, headers });
}

describe("another key's run", () => {
  it("has an attempt for every operation that names a run (a new route must be added here)", () => {
    const scoped = ROUTES.filter((r) => r.path.includes("{run_id}") || r.operationId === "createCompletion" || r.operationId === "createChatCompletion").map(
      (r) => r.operationId,
    );
    expect(scoped.filter((id) => attempts[id] === undefined)).toEqual([]);
  });

  it("is a 404 run_not_found for every run-scoped operation, worded exactly like a run that does not exist", async () => {
    const missing = "run_0000000000000000";
    for (const [operationId, make] of Object.entries(attempts)) {
      const theirs = make(runId);
      const nobodys = make(missing);
      for (let i = 0; i < theirs.length; i++) {
        const reply = await send(theirs[i]!, OTHER);
        const shown = `${operationId} ${JSON.stringify(theirs[i]!.body ?? "")}`;
        expect(reply.status, shown).toBe(404);
        const { error } = conform(gen.zError, reply.body);
        expect(error.code, shown).toBe("run_not_found");
        expect(error.request_id).toBe(reply.headers.get("x-request-id"));
        const absent = conform(gen.zError, (await send(nobodys[i]!, OTHER)).body).error;
        expect({ ...error, request_id: "", message: error.message.replace(runId, missing) }, shown).toEqual({ ...absent, request_id: "" });
      }
    }
  });

  it("is left exactly as it was: step, accumulated gradients, metrics and checkpoints", async () => {
    const run = (await call(fixture.server, "GET", `/v1/runs/${runId}`)).body;
    expect(run.current_step).toBe(1);
    const checkpoints = conform(gen.zListCheckpointsResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints`)).body);
    expect(checkpoints.data.map((c) => [c.step, c.mode])).toEqual([[1, "state"]]);
    const metrics = conform(gen.zListMetricsResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/metrics`)).body);
    expect(metrics.data.map((m) => m.step)).toEqual([1]);
    // Only the owner's one forward_backward is accumulated; none of the other key's calls were.
    const zeroed = conform(gen.zZeroGradResponse, (await call(fixture.server, "POST", `/v1/runs/${runId}/zero_grad`)).body);
    expect(zeroed.discarded_calls).toBe(1);
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints/1/content`)).status).toBe(200);
  });

  it("cannot be reached by replaying the owner's Idempotency-Key", async () => {
    const attempt = { method: "POST", path: `/v1/runs/${runId}/sample`, body: { prompts: ["Q: red?\nA:"], max_tokens: 3, seed: 1 } };
    const headers = { "idempotency-key": "shared-key-123" };
    const mine = await send(attempt, { key: fixture.server.key }, headers);
    expect(mine.status).toBe(200);
    const theirs = await send(attempt, OTHER, headers);
    expect(theirs.status).toBe(404);
    expect(theirs.headers.get("idempotent-replayed")).not.toBe("true");
    expect(JSON.stringify(theirs.body)).not.toContain(JSON.stringify(mine.body.samples[0].text));
  });

  it("is not listed for the other key, and the owner still sees it", async () => {
    const theirs = conform(gen.zListRunsResponse, (await call(fixture.server, "GET", "/v1/runs?limit=100", OTHER)).body);
    expect(theirs.data.map((r) => r.run_id)).not.toContain(runId);
    const mine = conform(gen.zListRunsResponse, (await call(fixture.server, "GET", "/v1/runs?limit=100")).body);
    expect(mine.data.map((r) => r.run_id)).toContain(runId);
  });
});
