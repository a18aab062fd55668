import { beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { QA, call, conform, createTinyRun, useTestServer } from "./helpers.js";

let runId: string;
const fixture = useTestServer();
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
  await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
  await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`);
});

describe("API keys", () => {
  it("refuses a missing, malformed or unknown key with 401 and never echoes it", async () => {
    for (const auth of [undefined, "Bearer", "Basic sk-test-a", "Bearer sk-test-c", "Bearer sk-test-a extra"]) {
      const headers: Record<string, string> = auth === undefined ? {} : { authorization: auth };
      const reply = await call(fixture.server, "GET", "/v1/models", { key: null, headers });
      expect(reply.status, String(auth)).toBe(401);
      expect(conform(gen.zError, reply.body).error.code).toBe("invalid_api_key");
      expect(JSON.stringify(reply.body)).not.toContain("sk-test");
    }
  });

  it("hides a run from every other key, exactly like a missing run", async () => {
    const other = { key: "sk-test-b" };
    const attempts = [
      call(fixture.server, "GET", `/v1/runs/${runId}`, other),
      call(fixture.server, "DELETE", `/v1/runs/${runId}`, other),
      call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { ...other, body: { batch: QA } }),
      call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { ...other, body: { batch: QA } }),
      call(fixture.server, "GET", `/v1/runs/${runId}/metrics`, other),
      call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints`, other),
      call(fixture.server, "GET", `/v1/runs/${runId}/checkpoints/1/content`, other),
      call(fixture.server, "POST", `/v1/runs/${runId}/restore`, { ...other, body: { step: 1 } }),
      call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { ...other, body: { prompts: ["a"] } }),
      call(fixture.server, "POST", `/v1/runs/${runId}/embeddings`, { ...other, body: { inputs: ["a"] } }),
      call(fixture.server, "POST", "/v1/completions", { ...other, body: { model: `${runId}@1`, prompt: "a" } }),
    ];
    for (const reply of await Promise.all(attempts)) {
      expect(reply.status).toBe(404);
      expect(conform(gen.zError, reply.body).error.code).toBe("run_not_found");
    }
    const list = conform(gen.zListRunsResponse, (await call(fixture.server, "GET", "/v1/runs", other)).body);
    expect(list.data.map((r) => r.run_id)).not.toContain(runId);
    const mine = await call(fixture.server, "GET", `/v1/runs/${runId}`);
    expect(mine.body.current_step).toBe(1);
  });

  it("generates and returns a key when none is configured", async () => {
    const lines: string[] = [];
    const saved = process.env.SIGNAL_API_KEYS;
    delete process.env.SIGNAL_API_KEYS;
    try {
      const { startServer } = await import("../../src/server/index.js");
      const bare = await startServer({ port: 0, dataDir: `${fixture.server.dataDir}/bare`, engine: fixture.engine, log: (l) => lines.push(l) });
      try {
        expect(bare.apiKeys).toHaveLength(1);
        const generated = bare.apiKeys[0]!;
        expect(lines.filter((l) => l.includes(generated))).toHaveLength(1);
        expect((await call({ url: bare.url, key: generated }, "GET", "/v1/models")).status).toBe(200);
        expect(lines.filter((l) => l.includes(generated))).toHaveLength(1);
      } finally {
        await bare.close();
      }
    } finally {
      if (saved !== undefined) process.env.SIGNAL_API_KEYS = saved;
    }
  });
});
