import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import type { Engine } from "../../src/server/engine/types.js";
import { QA, type TestServer, call, conform, createTinyRun, startTestServer, testEngine } from "../server/helpers.js";
import { rawRequest } from "./raw-http.js";

// Layout: <root>/secret.txt and a run-shaped decoy <root>/runs/run_decoy000000/ sit next to the
// data directory <root>/data, where a `../` that escaped would land.
const DECOY = "run_decoy000000";
const SECRET = "TOP-SECRET-CONTENT";
const DECOY_BYTES = "DECOY-ADAPTER-BYTES";
let root: string;
let engine: Engine;
let server: TestServer;
let runId: string;

/** A set-up call that must succeed, or every test after it would fail for the wrong reason. */
async function setUp(reply: Promise<{ status: number; body: unknown }>): Promise<void> {
  const { status, body } = await reply;
  if (status >= 300) throw new Error(`set-up call failed: ${status} ${JSON.stringify(body)}`);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "signal-paths-"));
  await writeFile(path.join(root, "secret.txt"), SECRET);
  await mkdir(path.join(root, "runs", DECOY, "checkpoints", "1"), { recursive: true });
  await writeFile(path.join(root, "runs", DECOY, "checkpoints", "1", "adapter_model.safetensors"), DECOY_BYTES);
  engine = await testEngine();
  server = await startTestServer(engine, { dataDir: path.join(root, "data") });
  runId = await createTinyRun(server);
  await setUp(call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } }));
  await setUp(call(server, "POST", `/v1/runs/${runId}/checkpoints`));
});
afterAll(async () => {
  await server?.close();
  await engine?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

/** Every file and directory under `dir` with its size and modification time. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of await readdir(dir, { recursive: true })) {
    const info = await stat(path.join(dir, name));
    out[name] = `${info.isDirectory() ? "d" : info.size}@${info.mtimeMs}`;
  }
  return out;
}

const ids = [
  "..",
  ".",
  "%2E%2E",
  "..%2F..%2Fsecret.txt",
  "..%2f..%2fsecret.txt",
  "..%5C..%5Csecret.txt",
  "%252E%252E%252Fsecret.txt",
  `..%2F..%2Fruns%2F${DECOY}`,
  `run_..%2F..%2F${DECOY}`,
  `run_abcdefgh%2F..%2F..%2F..%2F${DECOY}`,
  "run_abcdefgh%00",
  "run_abcdefgh%00..%2F..%2Fsecret.txt",
  "%00",
  "run_abcdefgh%C0%AE%C0%AE%C0%AF",
  "run_%D0%B0bcdefgh", // Cyrillic a
  "run_%EF%BD%81bcdefgh", // fullwidth a
  "run_abcdefgh%E2%80%8B", // zero-width space
  "run_abcdefgh%E2%80%AE", // right-to-left override
  "RUN_ABCDEFGH",
  "run_abcdefgh%0D%0AX-Injected:%201",
  `run_${"a".repeat(41)}`,
  `run_${"a".repeat(4000)}`,
  "%",
  "%E0%A4%A",
];

describe("path tricks in ids", () => {
  it("get a 4xx in the error schema wherever an id or step goes, and a decoy outside the data dir stays unknown", async () => {
    const outside = await snapshot(root).then((all) => Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith("data"))));
    const inside = await snapshot(path.join(root, "data"));
    // [method, path, whether the id is in the run_id position]
    const targets = (id: string): [string, string, boolean][] => [
      ["GET", `/v1/runs/${id}`, true],
      ["DELETE", `/v1/runs/${id}`, true],
      ["GET", `/v1/runs/${id}/checkpoints/1/content`, true],
      ["DELETE", `/v1/runs/${id}/checkpoints/1`, true],
      ["POST", `/v1/runs/${id}/restore`, true],
      ["POST", `/v1/runs/${id}/sample`, true],
      ["GET", `/v1/runs/${runId}/checkpoints/${id}/content`, false],
      ["DELETE", `/v1/runs/${runId}/checkpoints/${id}`, false],
    ];
    let tried = 0;
    for (const id of [...ids, DECOY]) {
      for (const [method, target, asRunId] of targets(id)) {
        const body = method === "POST" ? JSON.stringify(target.endsWith("restore") ? { step: 1 } : { prompts: ["a"], max_tokens: 1 }) : "";
        const head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-a\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
        const answer = await rawRequest(server.url, head);
        tried++;
        const shown = `${method} ${target.slice(0, 120)} → ${answer.status} ${answer.body.slice(0, 200)}`;
        expect(answer.status, shown).toBeGreaterThanOrEqual(400);
        expect(answer.status, shown).toBeLessThan(500);
        const { error } = conform(gen.zError, JSON.parse(answer.body));
        expect(error.request_id, shown).toBe(answer.headers["x-request-id"]);
        // A well-formed id nobody created (the decoy) is a plain 404; anything else is refused by its schema or has no route.
        if (id === DECOY && asRunId) expect(error.code, shown).toBe("run_not_found");
      }
    }
    expect(tried).toBe((ids.length + 1) * targets("x").length);
    const outsideAfter = await snapshot(root).then((all) => Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith("data"))));
    expect(outsideAfter).toEqual(outside);
    expect(await snapshot(path.join(root, "data"))).toEqual(inside);
  });

  it("dot segments in the raw path never change which run or file is meant", async () => {
    for (const target of [
      `/v1/runs/${runId}/../../../secret.txt`,
      `/v1/runs/${runId}/checkpoints/../../../runs/${DECOY}/checkpoints/1/content`,
      `/v1/runs/${DECOY}/../${runId}`,
      `/v1/runs/./${runId}`,
      `//v1/runs/${runId}`,
      `/v1/runs/${runId}/checkpoints/1/content/..`,
      `/v1/runs/${runId}/checkpoints/1/content?../../secret.txt`,
    ]) {
      const answer = await rawRequest(server.url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer sk-test-a\r\n\r\n`);
      if (target.includes("?")) {
        // The query is no part of the path: the download itself, refused for an unknown parameter.
        expect(answer.status, target).toBe(422);
      } else {
        expect(answer.status, target).toBe(404);
        expect(JSON.parse(answer.body).error.code, target).toBe("route_not_found");
      }
      expect(answer.body).not.toContain(SECRET);
      expect(answer.body).not.toContain(DECOY_BYTES);
    }
  });

  it("in a completion's model or a restore step are refused by their schema", async () => {
    for (const model of [
      `${runId}/../${DECOY}`,
      `../${DECOY}`,
      `${runId}@1/../2`,
      `${runId}@..`,
      `${runId}\u0000`,
      `run_\u0430${runId.slice(5)}` /* Cyrillic a */,
      `${runId}@1\n`,
    ]) {
      const reply = await call(server, "POST", "/v1/completions", { body: { model, prompt: "a", max_tokens: 1 } });
      expect(reply.status, model).toBe(400);
      expect(conform(gen.zError, reply.body).error.code).toBe("invalid_model");
    }
    for (const step of ["1/../..", "../1", -1, 1.5, 1e12, null]) {
      const reply = await call(server, "POST", `/v1/runs/${runId}/restore`, { body: { step } });
      expect(reply.status, String(step)).toBe(422);
    }
    expect((await call(server, "GET", `/v1/runs/${runId}/checkpoints/1/content`)).status).toBe(200);
  });
});
