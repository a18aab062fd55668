import { describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { QA, call, conform, createTinyRun, useTestServer } from "./helpers.js";

const fixture = useTestServer();

const key = (k: string) => ({ "idempotency-key": k });

describe("Idempotency-Key", () => {
  it("replays a train_step with the same key and body and applies it once", async () => {
    const runId = await createTinyRun(fixture.server);
    const first = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA }, headers: key("ts-1") });
    expect(first.headers.get("idempotent-replayed")).toBe("false");
    // Key order and whitespace do not make a different body.
    const again = await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, {
      body: `{ "batch": ${JSON.stringify(QA.map((q) => ({ completion: q.completion, prompt: q.prompt })))} }`,
      headers: key("ts-1"),
    });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));
    expect(again.body).toEqual(first.body);
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(1);
    expect(conform(gen.zListMetricsResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}/metrics`)).body).data).toHaveLength(1);
  });

  it("answers a reused key with a different body with 409 idempotency_key_reused", async () => {
    const runId = await createTinyRun(fixture.server);
    await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA }, headers: key("fb-1") });
    const reused = await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA.slice(1) }, headers: key("fb-1") });
    expect(reused.status).toBe(409);
    expect(conform(gen.zError, reused.body).error.code).toBe("idempotency_key_reused");
    const sameKeyOtherRun = await call(fixture.server, "POST", `/v1/runs/${await createTinyRun(fixture.server)}/forward_backward`, {
      body: { batch: QA },
      headers: key("fb-1"),
    });
    expect(sameKeyOtherRun.status).toBe(409);
    expect((await call(fixture.server, "POST", `/v1/runs/${runId}/zero_grad`)).body.discarded_calls).toBe(1);
  });

  it("lets concurrent duplicates wait for the first and replay it", async () => {
    const runId = await createTinyRun(fixture.server);
    await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA } });
    const replies = await Promise.all(
      Array.from({ length: 4 }, () => call(fixture.server, "POST", `/v1/runs/${runId}/optim_step`, { body: {}, headers: key("os-concurrent") })),
    );
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(replies.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(3);
    expect(new Set(replies.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(1);
  });

  it("creates one run for a retried createRun", async () => {
    const body = { base_model: "signal-byte-tiny", metadata: { attempt: "x" } };
    const first = await call(fixture.server, "POST", "/v1/runs", { body, headers: key("cr-1") });
    const retry = await call(fixture.server, "POST", "/v1/runs", { body, headers: key("cr-1") });
    expect(retry.status).toBe(201);
    expect(retry.body.run_id).toBe(first.body.run_id);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
  });

  it("scopes keys per API key", async () => {
    const a = await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny" }, headers: key("shared") });
    const b = await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny" }, headers: key("shared"), key: "sk-test-b" });
    expect(b.status).toBe(201);
    expect(b.headers.get("idempotent-replayed")).toBe("false");
    expect(b.body.run_id).not.toBe(a.body.run_id);
  });

  it("replays a sample, including one without a seed", async () => {
    const runId = await createTinyRun(fixture.server);
    const body = { prompts: ["Q: red?\nA:"], max_tokens: 24, temperature: 1.5 };
    const first = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body, headers: key("sm-1") });
    const again = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body, headers: key("sm-1") });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
  });

  it("does not store failures, so a retry after a 4xx does the work", async () => {
    const runId = await createTinyRun(fixture.server);
    const refused = await call(fixture.server, "POST", `/v1/runs/${runId}/optim_step`, { headers: key("os-after-409") });
    expect(refused.status).toBe(409);
    await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA } });
    const applied = await call(fixture.server, "POST", `/v1/runs/${runId}/optim_step`, { headers: key("os-after-409") });
    expect(applied.status).toBe(200);
    expect(applied.body.step).toBe(1);
  });
});
