import { describe, expect, inject, it } from "vitest";
import type { z } from "zod/mini";
import * as schemas from "../../generated/zod/zod.gen.js";
import { createRawClient, type RawClient } from "../../src/core/raw-client.js";

// Every operation of the spec, called through the typed low-level client against a Prism mock
// (a real process started by test/setup/prism.ts). Each case says how to make a valid call, how
// to make it invalid, and which generated schema the 2xx body must satisfy.
const baseUrl = inject("prismUrl");
const apiKey = "sk-contract-test-key";
const runId = "run_8f3a2c1d9e7b4a60";
const client = createRawClient({ baseUrl, apiKey });
const anonymous = createRawClient({ baseUrl });

type Call = (c: RawClient) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
interface Case {
  operationId: string;
  valid: Call;
  /** A request the spec rejects: a bad body, or a bad path or query parameter. */
  invalid: Call;
  schema: z.ZodMiniType;
  status: number;
  auth?: boolean;
  /** Status of the invalid call, when it is not 422. */
  invalidStatus?: number;
}

const run = { params: { path: { run_id: runId } } };
const checkpoint = { params: { path: { run_id: runId, step: 100 } } };
const batch = [{ prompt: "Q: 2+2?\nA:", completion: " 4" }, { text: "hello" }];
// Deliberately wrong values for the invalid calls: the casts keep them compiling.
const bad = (value: unknown): never => value as never;

const cases: Case[] = [
  {
    operationId: "getHealth",
    auth: false,
    status: 200,
    schema: schemas.zGetHealthResponse,
    valid: (c) => c.GET("/v1/health"),
    invalidStatus: 503,
    invalid: (c) => c.GET("/v1/health", { headers: { Prefer: "code=503" } }),
  },
  {
    operationId: "listModels",
    status: 200,
    schema: schemas.zListModelsResponse,
    valid: (c) => c.GET("/v1/models"),
    invalidStatus: 429,
    invalid: (c) => c.GET("/v1/models", { headers: { Prefer: "code=429" } }),
  },
  {
    operationId: "createRun",
    status: 201,
    schema: schemas.zCreateRunResponse,
    valid: (c) =>
      c.POST("/v1/runs", {
        body: { base_model: "signal-byte-base", lora_r: 8, lora_alpha: 16, learning_rate: 5e-4 },
        headers: { "Idempotency-Key": "idem-create-1" },
      }),
    invalid: (c) => c.POST("/v1/runs", { body: { base_model: "signal-byte-base", lora_r: bad(1000) } }),
  },
  {
    operationId: "listRuns",
    status: 200,
    schema: schemas.zListRunsResponse,
    valid: (c) => c.GET("/v1/runs", { params: { query: { limit: 10 } } }),
    invalid: (c) => c.GET("/v1/runs", { params: { query: { limit: 0 } } }),
  },
  {
    operationId: "getRun",
    status: 200,
    schema: schemas.zGetRunResponse,
    valid: (c) => c.GET("/v1/runs/{run_id}", run),
    invalid: (c) => c.GET("/v1/runs/{run_id}", { params: { path: { run_id: "../etc/passwd" } } }),
  },
  {
    operationId: "deleteRun",
    status: 200,
    schema: schemas.zDeleteRunResponse,
    valid: (c) => c.DELETE("/v1/runs/{run_id}", run),
    invalid: (c) => c.DELETE("/v1/runs/{run_id}", { params: { path: { run_id: "RUN-UPPER" } } }),
  },
  {
    operationId: "forwardBackward",
    status: 200,
    schema: schemas.zForwardBackwardResponse,
    valid: (c) => c.POST("/v1/runs/{run_id}/forward_backward", { ...run, body: { batch } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/forward_backward", { ...run, body: { batch: [] } }),
  },
  {
    operationId: "optimStep",
    status: 200,
    schema: schemas.zOptimStepResponse,
    valid: (c) => c.POST("/v1/runs/{run_id}/optim_step", { ...run, body: { learning_rate: 1e-4, max_grad_norm: 1 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/optim_step", { ...run, body: { learning_rate: -1 } }),
  },
  {
    operationId: "trainStep",
    status: 200,
    schema: schemas.zTrainStepResponse,
    valid: (c) => c.POST("/v1/runs/{run_id}/train_step", { ...run, body: { batch, learning_rate: 1e-3 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/train_step", { ...run, body: bad({ batch: [{ prompt: 1 }] }) }),
  },
  {
    operationId: "zeroGrad",
    status: 200,
    schema: schemas.zZeroGradResponse,
    valid: (c) => c.POST("/v1/runs/{run_id}/zero_grad", run),
    invalid: (c) => c.POST("/v1/runs/{run_id}/zero_grad", { params: { path: { run_id: "run_" } } }),
  },
  {
    operationId: "listMetrics",
    status: 200,
    schema: schemas.zListMetricsResponse,
    valid: (c) => c.GET("/v1/runs/{run_id}/metrics", { params: { ...run.params, query: { limit: 500 } } }),
    invalid: (c) => c.GET("/v1/runs/{run_id}/metrics", { params: { ...run.params, query: { limit: 5000 } } }),
  },
  {
    operationId: "createCheckpoint",
    status: 201,
    schema: schemas.zCreateCheckpointResponse,
    valid: (c) => c.POST("/v1/runs/{run_id}/checkpoints", { ...run, body: { mode: "state" } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/checkpoints", { ...run, body: { mode: bad("everything") } }),
  },
  {
    operationId: "listCheckpoints",
    status: 200,
    schema: schemas.zListCheckpointsResponse,
    valid: (c) => c.GET("/v1/runs/{run_id}/checkpoints", run),
    invalid: (c) => c.GET("/v1/runs/{run_id}/checkpoints", { params: { path: { run_id: "x" } } }),
  },
  {
    operationId: "getCheckpoint",
    status: 200,
    schema: schemas.zGetCheckpointResponse,
    valid: (c) => c.GET("/v1/runs/{run_id}/checkpoints/{step}", checkpoint),
    invalid: (c) => c.GET("/v1/runs/{run_id}/checkpoints/{step}", { params: { path: { run_id: runId, step: -1 } } }),
  },
  {
    operationId: "downloadCheckpoint",
    status: 200,
    schema: schemas.zDownloadCheckpointResponse,
    valid: (c) => c.GET("/v1/runs/{run_id}/checkpoints/{step}/content", { ...checkpoint, parseAs: "text" }),
    invalid: (c) =>
      c.GET("/v1/runs/{run_id}/checkpoints/{step}/content", { params: { path: { run_id: runId, step: bad("latest") } } }),
  },
  {
    operationId: "deleteCheckpoint",
    status: 200,
    schema: schemas.zDeleteCheckpointResponse,
    valid: (c) => c.DELETE("/v1/runs/{run_id}/checkpoints/{step}", checkpoint),
    invalid: (c) => c.DELETE("/v1/runs/{run_id}/checkpoints/{step}", { params: { path: { run_id: runId, step: 1.5 } } }),
  },
  {
    operationId: "restoreCheckpoint",
    status: 200,
    schema: schemas.zRestoreCheckpointResponse,
    valid: (c) => c.POST("/v1/runs/{run_id}/restore", { ...run, body: { step: 100 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/restore", { ...run, body: bad({}) }),
  },
  {
    operationId: "sample",
    status: 200,
    schema: schemas.zSampleResponse,
    valid: (c) =>
      c.POST("/v1/runs/{run_id}/sample", { ...run, body: { prompts: ["Q: 2+2?\nA:"], max_tokens: 8, temperature: 0, stop: ["\n"] } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/sample", { ...run, body: { prompts: ["x"], temperature: 5 } }),
  },
  {
    operationId: "createEmbeddings",
    status: 200,
    schema: schemas.zCreateEmbeddingsResponse,
    valid: (c) => c.POST("/v1/runs/{run_id}/embeddings", { ...run, body: { inputs: ["hello"] } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/embeddings", { ...run, body: { inputs: [] } }),
  },
  {
    operationId: "createCompletion",
    status: 200,
    schema: schemas.zCreateCompletionResponse,
    valid: (c) => c.POST("/v1/completions", { body: { model: `${runId}@100`, prompt: "Q: 2+2?\nA:", max_tokens: 8 } }),
    invalid: (c) => c.POST("/v1/completions", { body: bad({ prompt: "no model" }) }),
  },
];

describe("every operation of the spec against the Prism mock", () => {
  it("covers all 20 operationIds", () => {
    expect(cases.map((c) => c.operationId).sort()).toEqual(
      [
        "getHealth", "listModels", "createRun", "listRuns", "getRun", "deleteRun", "forwardBackward", "optimStep",
        "trainStep", "zeroGrad", "listMetrics", "createCheckpoint", "listCheckpoints", "getCheckpoint",
        "downloadCheckpoint", "deleteCheckpoint", "restoreCheckpoint", "sample", "createEmbeddings", "createCompletion",
      ].sort(),
    );
  });

  describe.each(cases)("$operationId", (c) => {
    it("answers a valid request with a 2xx whose body parses with the generated schema", async () => {
      const { data, error, response } = await c.valid(client);
      expect(error, JSON.stringify(error)).toBeUndefined();
      expect(response.status).toBe(c.status);
      expect(response.headers.get("x-request-id")).toMatch(/^req_/);
      const parsed = c.schema.safeParse(data);
      expect(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues)).toBe(true);
    });

    it("rejects an invalid request with an error in the error schema", async () => {
      const { error, response } = await c.invalid(client);
      // getHealth and listModels take no input to get wrong: for them, Prefer picks an error response.
      const expected = c.invalidStatus ?? 422;
      expect(response.status).toBe(expected);
      expect(schemas.zError.safeParse(error).success).toBe(true);
    });

    if (c.auth === false) {
      it("needs no API key", async () => {
        const { response } = await c.valid(anonymous);
        expect(response.status).toBe(c.status);
      });
    } else {
      it("refuses a request without an API key with 401", async () => {
        const { error, response } = await c.valid(anonymous);
        expect(response.status).toBe(401);
        expect(schemas.zError.parse(error).error.type).toBe("authentication_error");
      });
    }
  });
});

describe("the streaming form of sample", () => {
  it("answers text/event-stream with JSON data lines and a final [DONE]", async () => {
    const response = await fetch(`${baseUrl}/v1/runs/${runId}/sample`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ prompts: ["Q: capital of France?\nA:"], stream: true }),
    });
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const lines = (await response.text()).split("\n").filter((l) => l.startsWith("data: "));
    expect(lines.at(-1)).toBe("data: [DONE]");
    for (const line of lines.slice(0, -1)) {
      expect(schemas.zSampleChunk.safeParse(JSON.parse(line.slice(6))).success).toBe(true);
    }
  });
});
