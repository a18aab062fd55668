import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import type { Engine } from "../../src/server/engine/types.js";
import { call, conform, createTinyRun, startTestServer, testEngine } from "./helpers.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/state-file-data-dir/", import.meta.url));

let engine: Engine;
beforeAll(async () => {
  engine = await testEngine();
});
afterAll(async () => {
  await engine?.close();
});

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

const scratch: string[] = [];

/** A copy of a fixture (or an empty dir) that the test may change. */
async function scratchDir(from?: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "signal-datadir-"));
  scratch.push(dir);
  if (from) await cp(path.join(from, "runs"), path.join(dir, "runs"), { recursive: true });
  return dir;
}

describe("a data directory of the state-file format (one state.bin per run)", () => {
  it("is migrated on start: same run, metrics, checkpoints, samples, pending gradients and replays", async () => {
    const expected = JSON.parse(await readFile(path.join(FIXTURE, "expected.json"), "utf8")) as {
      run_id: string;
      api_key: string;
      sample_at_step_3: string;
      metrics: unknown[];
    };
    const dataDir = await scratchDir(FIXTURE);
    const lines: string[] = [];
    const server = await startTestServer(engine, { dataDir, apiKeys: [expected.api_key], log: (l) => lines.push(l) });
    const as = { url: server.url, key: expected.api_key };
    const id = expected.run_id;
    try {
      expect(lines.filter((l) => l.startsWith("warning"))).toEqual([]);
      expect(await exists(path.join(dataDir, "runs", id, "state.bin"))).toBe(false);
      const run = conform(gen.zGetRunResponse, (await call(as, "GET", `/v1/runs/${id}`)).body);
      expect(run).toMatchObject({ run_id: id, current_step: 4, lora_r: 4, metadata: { made: "legacy" } });
      expect((await call(as, "GET", `/v1/runs/${id}/metrics`)).body.data).toEqual(expected.metrics);
      const checkpoints = (await call(as, "GET", `/v1/runs/${id}/checkpoints`)).body.data as { step: number; mode: string }[];
      expect(checkpoints.map((c) => [c.step, c.mode])).toEqual([
        [3, "adapter"],
        [4, "state"],
      ]);
      const sampled = await call(as, "POST", `/v1/runs/${id}/sample`, { body: { prompts: ["Q: red?\nA:"], max_tokens: 6, temperature: 0, step: 3 } });
      expect(sampled.body.samples[0].text).toBe(expected.sample_at_step_3);
      const download = await fetch(`${server.url}/v1/runs/${id}/checkpoints/4/content`, { headers: { authorization: `Bearer ${expected.api_key}` } });
      expect(new Uint8Array(await download.arrayBuffer())).toEqual(
        new Uint8Array(await readFile(path.join(FIXTURE, "runs", id, "checkpoints", "4", "adapter_model.safetensors"))),
      );

      // A retried call from before the migration replays its answer instead of training again.
      const replay = await call(as, "POST", `/v1/runs/${id}/train_step`, {
        body: { batch: [{ prompt: "Q: red?\nA:", completion: " apple\n" }] },
        headers: { "idempotency-key": "step-2" },
      });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(replay.body.step).toBe(2);
      // The pending forward_backward of the old file is applied by the next optim_step.
      const stepped = await call(as, "POST", `/v1/runs/${id}/optim_step`);
      expect(stepped.body.step).toBe(5);
      const restored = await call(as, "POST", `/v1/runs/${id}/restore`, { body: { step: 4 } });
      expect(restored.body).toMatchObject({ step: 4, restored_optimizer: true });
    } finally {
      await server.close();
    }
    // Opening it again finds the migrated run in the database, not a second copy.
    const again = await startTestServer(engine, { dataDir, apiKeys: [expected.api_key] });
    try {
      expect((await call({ url: again.url, key: expected.api_key }, "GET", `/v1/runs/${id}`)).body.current_step).toBe(4);
    } finally {
      await again.dispose();
    }
  });

  it("keeps a state file it cannot read, with a warning naming the run and the directory", async () => {
    const dataDir = await scratchDir();
    const broken = path.join(dataDir, "runs", "run_0123456789abcdef");
    await mkdir(broken, { recursive: true });
    await writeFile(path.join(broken, "state.bin"), "not a state file");
    const lines: string[] = [];
    const server = await startTestServer(engine, { dataDir, log: (l) => lines.push(l) });
    try {
      expect(lines.some((l) => l.startsWith("warning") && l.includes("run_0123456789abcdef") && l.includes(broken))).toBe(true);
      expect(await readFile(path.join(broken, "state.bin"), "utf8")).toBe("not a state file");
    } finally {
      await server.dispose();
    }
  });
});

describe("what interrupted creates, deletes and checkpoint saves leave behind", () => {
  it("is removed on start, silently, and listed checkpoints stay", async () => {
    const first = await startTestServer(engine);
    const runId = await createTinyRun(first);
    await call(first, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: [{ prompt: "a", completion: "b" }] } });
    expect((await call(first, "POST", `/v1/runs/${runId}/checkpoints`, {})).status).toBe(201);
    await first.close();
    const runs = path.join(first.dataDir, "runs");
    const [listed] = await readdir(path.join(runs, runId, "checkpoints"));
    // A createRun killed between making its directory and writing its state (the state-file
    // format did that; every later start logged it as skipped).
    const createdOrphan = path.join(runs, "run_aaaaaaaaaaaaaaaa");
    await mkdir(path.join(createdOrphan, "checkpoints"), { recursive: true });
    await writeFile(path.join(createdOrphan, "state.bin.tmp-0123456789ab"), "partial");
    // A deleteRun killed after its rows were gone but before its directory was.
    const deletedOrphan = path.join(runs, "run_bbbbbbbbbbbbbbbb");
    await mkdir(path.join(deletedOrphan, "checkpoints", "1-0123456789ab"), { recursive: true });
    await mkdir(path.join(first.dataDir, "trash", "run_cccccccccccccccc-00000000"), { recursive: true });
    // A checkpoint save killed before its row was committed.
    const unlisted = path.join(runs, runId, "checkpoints", "1-fedcba987654");
    await mkdir(unlisted);
    await writeFile(path.join(unlisted, "adapter_model.safetensors"), "partial");

    const lines: string[] = [];
    const second = await startTestServer(engine, { dataDir: first.dataDir, log: (l) => lines.push(l) });
    try {
      expect(lines.filter((l) => l.startsWith("warning"))).toEqual([]);
      expect(await exists(createdOrphan)).toBe(false);
      expect(await exists(deletedOrphan)).toBe(false);
      expect(await exists(path.join(first.dataDir, "trash"))).toBe(false);
      expect(await exists(unlisted)).toBe(false);
      expect(await readdir(path.join(runs, runId, "checkpoints"))).toEqual([listed]);
      const download = await fetch(`${second.url}/v1/runs/${runId}/checkpoints/1/content`, { headers: { authorization: `Bearer ${second.key}` } });
      expect(download.status).toBe(200);
      expect((await call(second, "GET", "/v1/runs")).body.data.map((r: { run_id: string }) => r.run_id)).toEqual([runId]);
    } finally {
      await second.dispose();
    }
  });

  it("includes the directory of a deleted run", async () => {
    const server = await startTestServer(engine);
    try {
      const runId = await createTinyRun(server);
      await call(server, "POST", `/v1/runs/${runId}/checkpoints`, {});
      expect((await call(server, "DELETE", `/v1/runs/${runId}`)).status).toBe(200);
      expect(await exists(path.join(server.dataDir, "runs", runId))).toBe(false);
      expect((await call(server, "GET", `/v1/runs/${runId}`)).status).toBe(404);
    } finally {
      await server.dispose();
    }
  });
});

afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});
