import { beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { type Reply, call, conform, createTinyRun, useTestServer } from "./helpers.js";

let runId: string;
const fixture = useTestServer({ bodyLimitBytes: 64 * 1024 });
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
});

/** Checks the error schema, the status and code, and that the request id matches the header. */
function expectError(reply: Reply, status: number, code: string, param?: string): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  const { error } = conform(gen.zError, reply.body);
  expect(error.code).toBe(code);
  expect(error.request_id).toBe(reply.headers.get("x-request-id"));
  if (param !== undefined) expect(error.param).toBe(param);
}

describe("bad input gets a 4xx in the error schema and the server keeps serving", () => {
  it("answers malformed JSON with 400 invalid_json", async () => {
    expectError(await call(fixture.server, "POST", "/v1/runs", { body: '{"base_model": "signal-byte-tiny",' }), 400, "invalid_json");
  });

  it("answers a body over the limit with 413 without reading it all", async () => {
    const big = JSON.stringify({ batch: [{ text: "x".repeat(200 * 1024) }] });
    expectError(await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: big }), 413, "payload_too_large");
  });

  it("answers a chunked body that grows past the limit with 413", async () => {
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Endless unless the server stops reading; 1000 chunks would be 16 MB.
        if (sent++ < 1000) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await fetch(`${fixture.server.url}/v1/runs/${runId}/forward_backward`, {
      method: "POST",
      headers: { authorization: `Bearer ${fixture.server.key}`, "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(sent).toBeLessThan(1000);
  });

  it("answers unknown fields with 422 naming the field", async () => {
    expectError(
      await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["a"], max_token: 5 } }),
      422,
      "validation_error",
      "max_token",
    );
    expectError(
      await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: [{ prompt: "a", completion: "b", extra: 1 }] } }),
      422,
      "validation_error",
    );
  });

  it("answers wrong types and out-of-range values with 422 naming the field path", async () => {
    expectError(await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny", lora_r: "8" } }), 422, "validation_error", "lora_r");
    expectError(await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny", lora_r: 65 } }), 422, "validation_error", "lora_r");
    expectError(await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: [3] } }), 422, "validation_error", "prompts[0]");
    expectError(await call(fixture.server, "POST", "/v1/runs", { body: [] }), 422, "validation_error");
    expectError(await call(fixture.server, "POST", "/v1/runs", {}), 422, "validation_error");
  });

  it("answers bad query parameters with 422", async () => {
    expectError(await call(fixture.server, "GET", "/v1/runs?limit=0"), 422, "validation_error", "limit");
    expectError(await call(fixture.server, "GET", "/v1/runs?limit=abc"), 422, "validation_error", "limit");
    expectError(await call(fixture.server, "GET", "/v1/runs?after=nonsense"), 422, "validation_error", "after");
    expectError(await call(fixture.server, "GET", "/v1/runs?colour=red"), 422, "validation_error", "colour");
  });

  it("answers malformed run ids and steps with 422 and never touches the file system for them", async () => {
    expectError(await call(fixture.server, "GET", "/v1/runs/not-a-run"), 422, "validation_error", "run_id");
    expectError(await call(fixture.server, "GET", "/v1/runs/..%2F..%2Fetc%2Fpasswd"), 422, "validation_error", "run_id");
    expectError(await call(fixture.server, "GET", `/v1/runs/run_%2E%2E%2Fabcdefgh/metrics`), 422, "validation_error", "run_id");
    expectError(await call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints/-1`), 422, "validation_error", "step");
    expectError(await call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints/1.5`), 422, "validation_error", "step");
  });

  it("answers unknown runs, models, checkpoints and routes with 404", async () => {
    expectError(await call(fixture.server, "GET", "/v1/runs/run_0000000000000000"), 404, "run_not_found");
    const model = await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "gpt-9" } });
    expectError(model, 404, "model_not_found", "base_model");
    expect(model.body.error.message).toContain("signal-byte-base, signal-byte-tiny");
    expectError(await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["a"], step: 5 } }), 404, "checkpoint_not_found", "step");
    expectError(await call(fixture.server, "GET", "/v1/nothing"), 404, "route_not_found");
    expectError(await call(fixture.server, "PUT", "/v1/runs"), 405, "method_not_allowed");
  });

  it("answers a prompt or example longer than the context with 400 naming it", async () => {
    const sample = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["ok", "x".repeat(250)], max_tokens: 16 } });
    expectError(sample, 400, "context_length_exceeded", "prompts[1]");
    expect(sample.body.error.message).toMatch(/251.*16.*256|256/);
    expectError(
      await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: [{ text: "ok" }, { text: "y".repeat(400) }] } }),
      400,
      "context_length_exceeded",
      "batch[1]",
    );
    expectError(
      await call(fixture.server, "POST", "/v1/completions", { body: { model: runId, prompt: "z".repeat(250), max_tokens: 16 } }),
      400,
      "context_length_exceeded",
      "prompt",
    );
  });

  it("answers optim_step with nothing accumulated with 409 and leaves the step alone", async () => {
    expectError(await call(fixture.server, "POST", `/v1/runs/${runId}/optim_step`), 409, "nothing_accumulated");
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(0);
  });

  it("answers a malformed model string or Idempotency-Key with 4xx", async () => {
    expectError(await call(fixture.server, "POST", "/v1/completions", { body: { model: "../etc", prompt: "a" } }), 400, "invalid_model", "model");
    expectError(
      await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny" }, headers: { "idempotency-key": "has space" } }),
      422,
      "validation_error",
      "Idempotency-Key",
    );
  });

  it("is still healthy and serving after all of it", async () => {
    expect((await call(fixture.server, "GET", "/v1/health")).status).toBe(200);
    const trained = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: [{ text: "still here" }] } });
    expect(trained.status).toBe(200);
  });
});
