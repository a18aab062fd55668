import { describe, expectTypeOf, it } from "vitest";
import { createRawClient } from "../../src/core/raw-client.js";
import type { ForwardBackwardResult, Run } from "../../src/index.js";

const client = createRawClient({ baseUrl: "http://127.0.0.1:1", apiKey: "sk-types" });
const run = { params: { path: { run_id: "run_abcdefgh" } } };

describe("the typed low-level client", () => {
  it("types a response body from the spec", async () => {
    const { data } = await client.GET("/v1/runs/{run_id}", run);
    expectTypeOf(data).toEqualTypeOf<Run | undefined>();
    const fb = await client.POST("/v1/runs/{run_id}/forward_backward", { ...run, body: { batch: [{ text: "x" }] } });
    expectTypeOf(fb.data).toEqualTypeOf<ForwardBackwardResult | undefined>();
  });

  it("makes a wrong field name in a request a compile error", () => {
    // @ts-expect-error: `lora_rank` is not a field of CreateRunRequest
    client.POST("/v1/runs", { body: { base_model: "signal-byte-base", lora_rank: 8 } });
    // @ts-expect-error: `prompt` is not a field of SampleRequest (it is `prompts`)
    client.POST("/v1/runs/{run_id}/sample", { ...run, body: { prompt: "x" } });
  });

  it("makes a wrong field type in a request a compile error", () => {
    // @ts-expect-error: lora_r is an integer, not a string
    client.POST("/v1/runs", { body: { base_model: "signal-byte-base", lora_r: "8" } });
    // @ts-expect-error: mode is "adapter" | "state"
    client.POST("/v1/runs/{run_id}/checkpoints", { ...run, body: { mode: "everything" } });
    // @ts-expect-error: a batch example needs a completion with its prompt
    client.POST("/v1/runs/{run_id}/forward_backward", { ...run, body: { batch: [{ prompt: "x" }] } });
  });

  it("makes a missing path parameter a compile error", () => {
    // @ts-expect-error: run_id is required
    client.GET("/v1/runs/{run_id}", { params: { path: {} } });
  });
});
