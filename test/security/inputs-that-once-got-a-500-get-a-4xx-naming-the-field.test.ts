import { beforeAll, describe, expect, it } from "vitest";
import { MAX_ISSUES } from "../../src/internal/validate.js";
import { type Reply, call, createTinyRun, useTestServer } from "../server/helpers.js";

// Inputs an attacker's probe sent that got a 500 (or, for metadata, a 201 and then a 500 on
// listRuns): each now gets a 4xx in the error schema naming the field, and the server keeps
// answering. `maxPageBytes` is small here so a few runs with full metadata fill a page.
const fixture = useTestServer({ limits: { maxPageBytes: 20_000 } });
let runId: string;
/** A run with a checkpoint at step 1, for the `step` variants. */
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
  expect((await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: [{ text: "a b" }] } })).status).toBe(200);
  expect((await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "adapter" } })).status).toBe(201);
});

function expectError(reply: Reply, status: number, code: string, param?: string): void {
  expect(reply.status, JSON.stringify(reply.body).slice(0, 300)).toBe(status);
  expect(reply.body.error.code).toBe(code);
  if (param !== undefined) expect(reply.body.error.param).toBe(param);
}

describe("inputs that once got a 500", () => {
  it("sample with prompt_logprobs and a prompt past the context is a 400 context_length_exceeded, as without it", async () => {
    const long = "x".repeat(300);
    const variants: Record<string, unknown>[] = [
      { prompts: [long] },
      { prompt_tokens: [Array(300).fill(5)] },
      { prompts: [long], step: 1 },
      { prompts: ["short", long], max_tokens: 4 },
    ];
    for (const variant of variants) {
      const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { max_tokens: 1, ...variant, prompt_logprobs: true } });
      expectError(reply, 400, "context_length_exceeded");
      expect(reply.body.error.param).toMatch(/^prompt(s|_tokens)\[[01]\]$/);
    }
  });

  it("a body with ~128 000 bad values is a 422 naming the first and counting at most MAX_ISSUES, not a stack overflow", async () => {
    const ids = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, {
      body: { prompt_tokens: Array.from({ length: 8 }, () => Array(16_000).fill(-1)), max_tokens: 1 },
    });
    expectError(ids, 422, "validation_error", "prompt_tokens[0][0]");
    expect(ids.body.error.message).toContain(`at least ${MAX_ISSUES - 1} more`);

    const ppo = await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, {
      body: {
        loss_fn: "ppo",
        batch: Array.from({ length: 512 }, () => ({ tokens: Array(250).fill(3), logprobs: Array(250).fill(1), advantages: Array(250).fill(1) })),
      },
    });
    expectError(ppo, 422, "validation_error", "batch[0].logprobs[0]");

    const forward = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, {
      body: { batch: Array.from({ length: 512 }, () => ({ tokens: Array(200).fill(-1) })) },
    });
    expectError(forward, 422, "validation_error", "batch[0].tokens[0]");

    const long = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, {
      body: { batch: Array.from({ length: 512 }, () => ({ tokens: Array(4000).fill(-1) })) },
    });
    expectError(long, 400, "context_length_exceeded", "batch[0].tokens");
    expect((await call(fixture.server, "GET", "/v1/health")).status).toBe(200);
  });

  it("metadata past maxProperties is a 422 naming metadata, and runs with full metadata page by bytes", async () => {
    const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"]));
    expectError(
      await call(fixture.server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny", metadata: tooMany } }),
      422,
      "validation_error",
      "metadata",
    );

    const full = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, "m".repeat(512)]));
    const key = "sk-test-b";
    for (let i = 0; i < 6; i++) {
      const created = await call(fixture.server, "POST", "/v1/runs", { key, body: { base_model: "signal-byte-tiny", metadata: full } });
      expect(created.status).toBe(201);
    }
    const seen = new Set<string>();
    let after: string | null = null;
    let pages = 0;
    do {
      const page: Reply = await call(fixture.server, "GET", `/v1/runs?limit=100${after ? `&after=${after}` : ""}`, { key });
      expect(page.status).toBe(200);
      expect(page.body.data.length).toBeGreaterThanOrEqual(1);
      // ~8.4 KB a run: two fit in 20 000 bytes, never all six.
      expect(page.body.data.length).toBeLessThanOrEqual(3);
      for (const run of page.body.data) seen.add(run.run_id);
      after = page.body.next_cursor;
      pages++;
    } while (after !== null && pages < 10);
    expect(seen.size).toBe(6);
    expect(pages).toBeGreaterThan(1);
  });
});
