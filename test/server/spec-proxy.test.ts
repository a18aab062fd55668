import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrismProcess, startPrism } from "../helpers/prism.js";
import { QA, type Reply, call, useTestServer } from "./helpers.js";

let prism: PrismProcess;
/** The server reached through `prism proxy --errors`, which turns any response that breaks the spec into a 500. */
let proxied: { url: string; key: string };

const fixture = useTestServer();
beforeAll(async () => {
  prism = await startPrism({ kind: "proxy", upstream: fixture.server.url });
  proxied = { url: prism.url, key: fixture.server.key };
});
afterAll(async () => {
  await prism?.stop();
});

function expectConforming(reply: Reply, status: number): void {
  const violations = reply.headers.get("sl-violations");
  expect(violations, `violations: ${violations}\n${JSON.stringify(reply.body).slice(0, 400)}`).toBeNull();
  expect(reply.status, JSON.stringify(reply.body).slice(0, 400)).toBe(status);
}

describe("the server behind prism proxy --errors", () => {
  it("answers every non-streaming operation, success and error, within the spec", async () => {
    expectConforming(await call(proxied, "GET", "/v1/health", { key: null }), 200);
    expectConforming(await call(proxied, "GET", "/v1/models"), 200);
    const created = await call(proxied, "POST", "/v1/runs", {
      body: { base_model: "signal-byte-tiny", learning_rate: 0.02, metadata: { via: "prism" } },
      headers: { "idempotency-key": "prism-create" },
    });
    expectConforming(created, 201);
    const runId = created.body.run_id as string;
    const run = `/v1/runs/${runId}`;
    expectConforming(await call(proxied, "GET", "/v1/runs?limit=1"), 200);
    expectConforming(await call(proxied, "GET", run), 200);
    expectConforming(await call(proxied, "POST", `${run}/forward_backward`, { body: { batch: QA } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/optim_step`, { body: { learning_rate: 0.01 } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/train_step`, { body: { batch: QA }, headers: { "idempotency-key": "prism-ts" } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/train_step`, { body: { batch: QA }, headers: { "idempotency-key": "prism-ts" } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/forward_backward`, { body: { batch: QA } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/zero_grad`), 200);
    expectConforming(await call(proxied, "GET", `${run}/metrics?limit=1`), 200);
    expectConforming(await call(proxied, "POST", `${run}/checkpoints`, { body: { mode: "state" } }), 201);
    expectConforming(await call(proxied, "GET", `${run}/checkpoints`), 200);
    expectConforming(await call(proxied, "GET", `${run}/checkpoints/2`), 200);
    expectConforming(await call(proxied, "GET", `${run}/checkpoints/2/content`), 200);
    expectConforming(await call(proxied, "POST", `${run}/restore`, { body: { step: 2 } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/sample`, { body: { prompts: ["Q: red?\nA:"], max_tokens: 8, logprobs: true, n: 2, seed: 1 } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/sample`, { body: { prompts: ["a"], max_tokens: 4, step: 2 } }), 200);
    expectConforming(await call(proxied, "POST", `${run}/embeddings`, { body: { inputs: ["a", "b"] } }), 200);
    expectConforming(
      await call(proxied, "POST", "/v1/completions", { body: { model: `${runId}@2`, prompt: ["a", "b"], max_tokens: 4, logprobs: 1, stop: "\n" } }),
      200,
    );
    expectConforming(await call(proxied, "DELETE", `${run}/checkpoints/2`), 200);

    expectConforming(await call(proxied, "GET", "/v1/models", { key: "sk-wrong" }), 401);
    expectConforming(await call(proxied, "GET", "/v1/runs/run_0000000000000000"), 404);
    expectConforming(await call(proxied, "GET", `${run}/checkpoints/9`), 404);
    expectConforming(await call(proxied, "POST", "/v1/runs", { body: { base_model: "nope" } }), 404);
    expectConforming(await call(proxied, "POST", `${run}/optim_step`), 409);
    expectConforming(await call(proxied, "POST", `${run}/sample`, { body: { prompts: ["x".repeat(250)], max_tokens: 16 } }), 400);
    expectConforming(await call(proxied, "POST", "/v1/completions", { body: { model: "bad", prompt: "a" } }), 400);
    expectConforming(
      await call(proxied, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny" }, headers: { "idempotency-key": "prism-create" } }),
      409,
    );
    expectConforming(await call(proxied, "DELETE", run), 200);
  });

  it("would flag a response that breaks the spec", async () => {
    // The same check against an upstream that answers getHealth wrongly: proves it can fail.
    const liar = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "x-request-id": "req_0" });
      res.end(JSON.stringify({ status: "fine", version: 1 }));
    });
    await new Promise<void>((resolve) => liar.listen(0, "127.0.0.1", () => resolve()));
    const checker = await startPrism({ kind: "proxy", upstream: `http://127.0.0.1:${(liar.address() as AddressInfo).port}` });
    try {
      const reply = await call({ url: checker.url }, "GET", "/v1/health", { key: null });
      expect(reply.status).toBe(500);
      expect(reply.headers.get("sl-violations")).toContain("status");
    } finally {
      await checker.stop();
      liar.close();
    }
  });
});
