import { describe, expect, inject, it } from "vitest";
import type { z } from "zod/mini";
import { OPERATION_RESPONSES, OPERATIONS, type OperationId } from "../../generated/operations.js";
import * as schemas from "../../generated/zod/zod.gen.js";
import { createRawClient, type RawClient } from "../../src/core/raw-client.js";

// Every operation of the spec (the generated table), called through the typed low-level client
// against a Prism mock (a real process started by test/setup/prism.ts). Each case says how to
// make a valid call and how to make it invalid; the 2xx status, the response schema and whether
// the key is needed come from the generated table. A new operation fails here, naming itself,
// until it has a case (and `cases` does not compile without one).
const baseUrl = inject("prismUrl");
const apiKey = "sk-contract-test-key";
const runId = "run_8f3a2c1d9e7b4a60";
const client = createRawClient({ baseUrl, apiKey });
const anonymous = createRawClient({ baseUrl });

type Call = (c: RawClient) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
interface Case {
  valid: Call;
  /** A request the spec rejects: a bad body, or a bad path or query parameter. */
  invalid: Call;
  /** Status of the invalid call, when it is not 422. */
  invalidStatus?: number;
}

const run = { params: { path: { run_id: runId } } };
const checkpoint = { params: { path: { run_id: runId, step: 100 } } };
const batch = [{ prompt: "Q: 2+2?\nA:", completion: " 4" }, { text: "hello" }];
// Deliberately wrong values for the invalid calls: the casts keep them compiling.
const bad = (value: unknown): never => value as never;

const cases: { [Op in OperationId]: Case } = {
  getHealth: {
    valid: (c) => c.GET("/v1/health"),
    invalidStatus: 503,
    invalid: (c) => c.GET("/v1/health", { headers: { Prefer: "code=503" } }),
  },
  listModels: {
    valid: (c) => c.GET("/v1/models"),
    invalidStatus: 429,
    invalid: (c) => c.GET("/v1/models", { headers: { Prefer: "code=429" } }),
  },
  createRun: {
    valid: (c) =>
      c.POST("/v1/runs", {
        body: { base_model: "signal-byte-base", lora_r: 8, lora_alpha: 16, learning_rate: 5e-4 },
        headers: { "Idempotency-Key": "idem-create-1" },
      }),
    invalid: (c) => c.POST("/v1/runs", { body: { base_model: "signal-byte-base", lora_r: bad(1000) } }),
  },
  listRuns: {
    valid: (c) => c.GET("/v1/runs", { params: { query: { limit: 10, base_model: "signal-byte-base", name: "support-bot-v1" } } }),
    invalid: (c) => c.GET("/v1/runs", { params: { query: { limit: 0 } } }),
  },
  getRun: {
    valid: (c) => c.GET("/v1/runs/{run_id}", run),
    invalid: (c) => c.GET("/v1/runs/{run_id}", { params: { path: { run_id: "../etc/passwd" } } }),
  },
  updateRun: {
    valid: (c) => c.POST("/v1/runs/{run_id}", { ...run, body: { name: "support-bot-v2", metadata: { stage: "eval" } } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}", { ...run, body: { name: bad(""), metadata: { stage: bad(3) } } }),
  },
  deleteRun: {
    valid: (c) => c.DELETE("/v1/runs/{run_id}", run),
    invalid: (c) => c.DELETE("/v1/runs/{run_id}", { params: { path: { run_id: "RUN-UPPER" } } }),
  },
  watchRun: {
    valid: (c) => c.GET("/v1/runs/{run_id}/events", { ...run, parseAs: "text" }),
    invalid: (c) => c.GET("/v1/runs/{run_id}/events", { params: { path: { run_id: "RUN-UPPER" } } }),
  },
  forwardBackward: {
    valid: (c) => c.POST("/v1/runs/{run_id}/forward_backward", { ...run, body: { batch } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/forward_backward", { ...run, body: { batch: [] } }),
  },
  optimStep: {
    valid: (c) => c.POST("/v1/runs/{run_id}/optim_step", { ...run, body: { learning_rate: 1e-4, max_grad_norm: 1 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/optim_step", { ...run, body: { learning_rate: -1 } }),
  },
  trainStep: {
    valid: (c) => c.POST("/v1/runs/{run_id}/train_step", { ...run, body: { batch, learning_rate: 1e-3 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/train_step", { ...run, body: bad({ batch: [{ prompt: 1 }] }) }),
  },
  zeroGrad: {
    valid: (c) => c.POST("/v1/runs/{run_id}/zero_grad", run),
    invalid: (c) => c.POST("/v1/runs/{run_id}/zero_grad", { params: { path: { run_id: "run_" } } }),
  },
  listMetrics: {
    valid: (c) => c.GET("/v1/runs/{run_id}/metrics", { params: { ...run.params, query: { limit: 500 } } }),
    invalid: (c) => c.GET("/v1/runs/{run_id}/metrics", { params: { ...run.params, query: { limit: 5000 } } }),
  },
  createCheckpoint: {
    valid: (c) => c.POST("/v1/runs/{run_id}/checkpoints", { ...run, body: { mode: "state" } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/checkpoints", { ...run, body: { mode: bad("everything") } }),
  },
  listCheckpoints: {
    valid: (c) => c.GET("/v1/runs/{run_id}/checkpoints", run),
    invalid: (c) => c.GET("/v1/runs/{run_id}/checkpoints", { params: { path: { run_id: "x" } } }),
  },
  getCheckpoint: {
    valid: (c) => c.GET("/v1/runs/{run_id}/checkpoints/{step}", checkpoint),
    invalid: (c) => c.GET("/v1/runs/{run_id}/checkpoints/{step}", { params: { path: { run_id: runId, step: -1 } } }),
  },
  downloadCheckpoint: {
    valid: (c) => c.GET("/v1/runs/{run_id}/checkpoints/{step}/content", { ...checkpoint, parseAs: "text" }),
    invalid: (c) => c.GET("/v1/runs/{run_id}/checkpoints/{step}/content", { params: { path: { run_id: runId, step: bad("latest") } } }),
  },
  deleteCheckpoint: {
    valid: (c) => c.DELETE("/v1/runs/{run_id}/checkpoints/{step}", checkpoint),
    invalid: (c) => c.DELETE("/v1/runs/{run_id}/checkpoints/{step}", { params: { path: { run_id: runId, step: 1.5 } } }),
  },
  setCheckpointTtl: {
    valid: (c) => c.POST("/v1/runs/{run_id}/checkpoints/{step}", { ...checkpoint, body: { ttl_seconds: 604800 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/checkpoints/{step}", { ...checkpoint, body: { ttl_seconds: bad(0) } }),
  },
  importAdapter: {
    valid: (c) => c.POST("/v1/runs/{run_id}/adapter", { ...run, body: { adapter: "CAAAAAAAAAB7fSAgICAgIA==" } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/adapter", { ...run, body: bad({}) }),
  },
  restoreCheckpoint: {
    valid: (c) => c.POST("/v1/runs/{run_id}/restore", { ...run, body: { step: 100 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/restore", { ...run, body: bad({}) }),
  },
  sample: {
    valid: (c) => c.POST("/v1/runs/{run_id}/sample", { ...run, body: { prompts: ["Q: 2+2?\nA:"], max_tokens: 8, temperature: 0, stop: ["\n"] } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/sample", { ...run, body: { prompts: ["x"], temperature: 5 } }),
  },
  createEmbeddings: {
    valid: (c) => c.POST("/v1/runs/{run_id}/embeddings", { ...run, body: { inputs: ["hello"] } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/embeddings", { ...run, body: { inputs: [] } }),
  },
  forward: {
    valid: (c) => c.POST("/v1/runs/{run_id}/forward", { ...run, body: { batch, step: 100 } }),
    invalid: (c) => c.POST("/v1/runs/{run_id}/forward", { ...run, body: { batch: [] } }),
  },
  tokenize: {
    valid: (c) => c.POST("/v1/models/{model_id}/tokenize", { params: { path: { model_id: "signal-byte-base" } }, body: { text: "Q: 2+2?", add_bos: true } }),
    invalid: (c) => c.POST("/v1/models/{model_id}/tokenize", { params: { path: { model_id: "signal-byte-base" } }, body: { text: bad(42) } }),
  },
  detokenize: {
    valid: (c) => c.POST("/v1/models/{model_id}/detokenize", { params: { path: { model_id: "signal-byte-base" } }, body: { tokens: [81, 58, 32] } }),
    invalid: (c) => c.POST("/v1/models/{model_id}/detokenize", { params: { path: { model_id: "signal-byte-base" } }, body: { tokens: [-1] } }),
  },
  createCompletion: {
    valid: (c) => c.POST("/v1/completions", { body: { model: `${runId}@100`, prompt: "Q: 2+2?\nA:", max_tokens: 8 } }),
    invalid: (c) => c.POST("/v1/completions", { body: bad({ prompt: "no model" }) }),
  },
  createChatCompletion: {
    valid: (c) =>
      c.POST("/v1/chat/completions", { body: { model: `${runId}@100`, messages: [{ role: "user", content: "Capital of France?" }], max_tokens: 8 } }),
    invalid: (c) => c.POST("/v1/chat/completions", { body: bad({ messages: [] }) }),
  },
};

describe("every operation of the spec against the Prism mock", () => {
  it("has a case for every operationId of the generated table", () => {
    expect(Object.keys(OPERATIONS).filter((id) => !Object.hasOwn(cases, id))).toEqual([]);
  });

  describe.each(Object.values(OPERATIONS))("$operationId", (operation) => {
    const c: Case | undefined = (cases as Partial<Record<string, Case>>)[operation.operationId];
    const caseOf = (): Case => {
      if (c === undefined) throw new Error(`${operation.operationId} has no case in test/contract/operations.test.ts`);
      return c;
    };

    it("answers a valid request with a 2xx whose body parses with the generated schema", async () => {
      const { data, error, response } = await caseOf().valid(client);
      expect(error, JSON.stringify(error)).toBeUndefined();
      expect(response.status).toBe(operation.successStatus);
      expect(response.headers.get("x-request-id")).toMatch(/^req_/);
      if (operation.response === undefined) {
        // Not JSON (the checkpoint's bytes): one of the declared media types, with a body.
        const declared = OPERATION_RESPONSES[operation.operationId][String(operation.successStatus) as "200"].contentTypes as readonly string[];
        expect(declared).toContain(response.headers.get("content-type")?.split(";")[0]);
        expect(String(data).length).toBeGreaterThan(0);
      } else {
        const parsed = (operation.response as z.ZodMiniType).safeParse(data);
        expect(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues)).toBe(true);
      }
    });

    it("rejects an invalid request with an error in the error schema", async () => {
      const { error, response } = await caseOf().invalid(client);
      // getHealth and listModels take no input to get wrong: for them, Prefer picks an error response.
      const expected = caseOf().invalidStatus ?? 422;
      expect(response.status).toBe(expected);
      expect(schemas.zError.safeParse(error).success).toBe(true);
    });

    if (!operation.secured) {
      it("needs no API key", async () => {
        const { response } = await caseOf().valid(anonymous);
        expect(response.status).toBe(operation.successStatus);
      });
    } else {
      it("refuses a request without an API key with 401", async () => {
        const { error, response } = await caseOf().valid(anonymous);
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
