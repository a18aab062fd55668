import { describe, expect, expectTypeOf, it } from "vitest";
import type {
  AsyncInferenceClientOptions,
  AsyncTrainingClientOptions,
  BatchSampleOptions,
  BatchSampleParams,
  BatchesOptions,
  CacheOptions,
  CacheStats,
  ChildPolicyOptions,
  ClientOptions,
  CreateRunRequest,
  EpochResult,
  InferenceOptions,
  ListRunsQuery,
  ProgressOptions,
  RequestOptions,
  SampleParams,
  TrainBatchParams,
  TrainEpochOptions,
  TrainingMetrics,
  TrainingOptions,
  UpdateRunRequest,
} from "../../src/index.js";
import { SignalClient } from "../../src/index.js";
import type { LocalServerOptions, MockServerOptions } from "../../src/testing/index.js";
import { SDK_METHOD_OPERATIONS } from "../../src/testing/index.js";
import { operationOf } from "../../src/testing/sdk-method-names.js";
import { compileScenario } from "../../src/testing/scenarios.js";

// The README's rule: SDK options camelCase, wire fields (and what the SDK computes in the guide's
// own keys: avg_loss, cache_size) snake_case, and no object a call takes mixes the two.
type Camel<K> = K extends `${string}_${string}` ? never : K extends Lowercase<K & string> ? never : K;
type Snake<K> = K extends `${string}_${string}` ? K : never;
type Mixed<T> = [Camel<keyof T>] extends [never] ? false : [Snake<keyof T>] extends [never] ? false : true;

describe("one naming rule", () => {
  it("no options or params object of a call mixes camelCase and snake_case keys", () => {
    expectTypeOf<Mixed<ClientOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<RequestOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<ChildPolicyOptions & TrainingOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<ChildPolicyOptions & InferenceOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<AsyncTrainingClientOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<AsyncInferenceClientOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<TrainEpochOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<ProgressOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<BatchSampleOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<BatchSampleParams>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<SampleParams>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<TrainBatchParams>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<CreateRunRequest>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<UpdateRunRequest>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<ListRunsQuery>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<CacheOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<BatchesOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<LocalServerOptions>>().toEqualTypeOf<false>();
    expectTypeOf<Mixed<MockServerOptions>>().toEqualTypeOf<false>();
    // What the SDK computes keeps the guide's keys.
    expectTypeOf<keyof EpochResult>().toEqualTypeOf<"avg_loss" | "steps" | "num_tokens" | "elapsed_ms" | "eval">();
    expectTypeOf<TrainingMetrics>().toHaveProperty("avg_loss");
    expectTypeOf<CacheStats>().toHaveProperty("cache_size");
    // The checker itself: a mixed object is caught.
    expectTypeOf<Mixed<{ batchSize: number; max_tokens: number }>>().toEqualTypeOf<true>();
  });

  it("the earlier mixed forms still work at run time, with one warning each", async () => {
    const warnings: string[] = [];
    const sent: string[] = [];
    const fetch = async (request: Request) => {
      sent.push(await request.text());
      const body = request.url.endsWith("/sample")
        ? { object: "sample", step: null, samples: [{ prompt_index: 0, index: 0, text: "x", finish_reason: "length", num_tokens: 1 }] }
        : {};
      return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json", "x-request-id": "req_1" } });
    };
    const client = new SignalClient({ apiKey: "k", baseUrl: "http://127.0.0.1:1", fetch, logger: { warn: (m: string) => warnings.push(m) } });
    const inference = client.inference("run_12345678", { batchSize: 32 });
    await inference.batchSample(["a", "b"], { max_tokens: 1, batchSize: 1 } as BatchSampleParams).catch(() => undefined);
    expect(sent.length).toBe(2);
    expect(sent.every((body) => !body.includes("batchSize"))).toBe(true);
    expect(warnings.join("\n")).toContain("batchSample(prompts, params, { batchSize })");
  });
});

describe("the testing entry's respondWith and requests take the SDK's method names too", () => {
  it("maps every SDK method name that differs from its operationId", () => {
    expect(operationOf("saveState")).toBe("createCheckpoint");
    expect(operationOf("trainBatch")).toBe("trainStep");
    expect(operationOf("embeddings")).toBe("createEmbeddings");
    expect(operationOf("batchSample")).toBe("sample");
    expect(operationOf("getRun")).toBe("getRun");
    expect(Object.keys(SDK_METHOD_OPERATIONS)).toContain("saveCheckpoint");
    expect(compileScenario(operationOf("saveState"), { status: 404 }).operationId).toBe("createCheckpoint");
  });
});
