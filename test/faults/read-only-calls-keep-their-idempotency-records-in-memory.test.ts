import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/server/engine/types.js";
import { QA, type TestServer, call, createTinyRun, startTestServer, testEngine } from "../server/helpers.js";

let engine: Engine;
let server: TestServer;
let runId: string;
beforeAll(async () => {
  engine = await testEngine();
  server = await startTestServer(engine);
  runId = await createTinyRun(server);
  await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
  await call(server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "adapter" } });
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

/** Every file and directory under `dir` with its size and modification time. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true })) {
    const info = await stat(path.join(dir, entry));
    out[entry] = `${info.isDirectory() ? "dir" : info.size} ${info.mtimeMs}`;
  }
  return out;
}

const withKey = (key: string) => ({ "idempotency-key": key });

describe("sample, embeddings and completions with an Idempotency-Key", () => {
  it("write nothing to the data dir and replay the identical response within the process", async () => {
    const requests = [
      { path: `/v1/runs/${runId}/sample`, body: { prompts: [QA[0]!.prompt], max_tokens: 6, temperature: 1, top_p: 1, seed: 3 }, other: { prompts: ["x"] } },
      // Without a seed the text is random: only a replay can give the same answer twice.
      { path: `/v1/runs/${runId}/sample`, body: { prompts: [QA[1]!.prompt], max_tokens: 6, temperature: 1 }, other: { prompts: ["y"] } },
      { path: `/v1/runs/${runId}/embeddings`, body: { inputs: ["red", "blue"], step: 1 }, other: { inputs: ["red"] } },
      { path: "/v1/completions", body: { model: `${runId}@1`, prompt: QA[2]!.prompt, max_tokens: 5 }, other: { model: runId, prompt: "z" } },
    ];
    const before = await snapshot(server.dataDir);
    for (const [i, request] of requests.entries()) {
      const first = await call(server, "POST", request.path, { body: request.body, headers: withKey(`read-only-${i}`) });
      expect(first.status).toBe(200);
      expect(first.headers.get("idempotent-replayed")).toBe("false");
      const again = await call(server, "POST", request.path, { body: request.body, headers: withKey(`read-only-${i}`) });
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(again.body).toEqual(first.body);
      const reused = await call(server, "POST", request.path, { body: request.other, headers: withKey(`read-only-${i}`) });
      expect(reused.status).toBe(409);
    }
    expect(await snapshot(server.dataDir)).toEqual(before);
  });

  it("are forgotten by a restarted server, which answers them afresh", async () => {
    const body = { prompts: [QA[3]!.prompt], max_tokens: 6, temperature: 1, seed: 11 };
    const first = await call(server, "POST", `/v1/runs/${runId}/sample`, { body, headers: withKey("before-restart") });
    await server.close();
    server = await startTestServer(engine, { dataDir: server.dataDir });
    const after = await call(server, "POST", `/v1/runs/${runId}/sample`, { body, headers: withKey("before-restart") });
    expect(after.headers.get("idempotent-replayed")).toBe("false");
    expect(after.body).toEqual(first.body);
  });

  it("still answers a replay after the run is deleted as a missing run", async () => {
    const doomed = await createTinyRun(server);
    const body = { prompts: [QA[0]!.prompt], max_tokens: 3, temperature: 0 };
    expect((await call(server, "POST", `/v1/runs/${doomed}/sample`, { body, headers: withKey("doomed") })).status).toBe(200);
    await call(server, "DELETE", `/v1/runs/${doomed}`);
    expect((await call(server, "POST", `/v1/runs/${doomed}/sample`, { body, headers: withKey("doomed") })).status).toBe(404);
  });
});
