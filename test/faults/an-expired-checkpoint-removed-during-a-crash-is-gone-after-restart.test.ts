import type { ChildProcess } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freePort } from "../helpers/free-port.js";
import { holdSyscalls, rawApi, requireStrace } from "./strace-harness.js";
import { spawnServer, type SpawnedServer } from "./spawn-server.js";

// The removal of an expired checkpoint, with the server SIGKILLed inside it: strace holds one
// kind of system call in the running server (`delay_enter`) while a request finds the
// checkpoint expired and queues its removal. Killed while its files are being deleted (after the
// commit that unlisted it) or while that commit is being made durable, the restarted server
// lists nothing whose files are gone, answers `checkpoint_expired`, and leaves no files behind;
// the checkpoint without a lifetime is whole.

const KEY = "sk-fault-expiry";
const QA = [{ prompt: "Q: red?\nA:", completion: " apple\n" }];

requireStrace();

let dataDir: string;
let port: number;
const spawned: ChildProcess[] = [];

async function serve(): Promise<SpawnedServer> {
  const server = await spawnServer({ port, dataDir, key: KEY });
  spawned.push(server.child);
  return server;
}

const api = rawApi(() => port, KEY);

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "signal-fault-expiry-"));
  port = await freePort();
});
afterAll(async () => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
});

describe("an expired checkpoint whose removal is cut by a SIGKILL", () => {
  let runId: string;
  let kept: Uint8Array;

  beforeAll(async () => {
    const server = await serve();
    runId = (await api("POST", "/v1/runs", { base_model: "signal-byte-tiny", learning_rate: 0.02, lora_r: 4, seed: 5 })).json.run_id;
    expect((await api("POST", `/v1/runs/${runId}/train_step`, { batch: QA })).status).toBe(200);
    expect((await api("POST", `/v1/runs/${runId}/checkpoints`, { mode: "state" })).status).toBe(201);
    kept = (await api("GET", `/v1/runs/${runId}/checkpoints/1/content`)).bytes;
    server.child.kill("SIGKILL");
    await server.exited;
  });

  // `cut`: the kill is known to land inside the deletion, so its directory is still there after it.
  const windows: { name: string; syscalls: string[]; holdMs: number; killAfterMs: number; cut?: boolean }[] = [
    { name: "the deletion of its files (held 3 s, kill at 1.5 s)", syscalls: ["unlink", "unlinkat", "rmdir"], holdMs: 3000, killAfterMs: 1500, cut: true },
    { name: "the commit that unlists it (each fsync held 1 s, kill at 0.5 s)", syscalls: ["fsync", "fdatasync"], holdMs: 1000, killAfterMs: 500 },
  ];

  for (const window of windows) {
    it(`is gone after a restart when the kill lands in ${window.name}`, async () => {
      const server = await serve();
      expect((await api("POST", `/v1/runs/${runId}/train_step`, { batch: QA })).status).toBe(200);
      const saved = await api("POST", `/v1/runs/${runId}/checkpoints`, { mode: "adapter", ttl_seconds: 1 });
      expect(saved.status).toBe(201);
      const step: number = saved.json.step;
      // The shortest lifetime there is; nothing asks for the checkpoint meanwhile.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(saved.json.expires_at) - Date.now()) + 50));
      const strace = await holdSyscalls(server.child.pid!, window.syscalls, window.holdMs, spawned);
      const found = await api("GET", `/v1/runs/${runId}/checkpoints/${step}`);
      expect(found.json.error.code).toBe("checkpoint_expired");
      await new Promise((resolve) => setTimeout(resolve, window.killAfterMs));
      server.child.kill("SIGKILL");
      await server.exited;
      strace.kill("SIGKILL");
      const dirs = async () => (await readdir(path.join(dataDir, "runs", runId, "checkpoints"))).map((d) => Number(d.split("-")[0]));
      if (window.cut) expect(await dirs()).toContain(step);

      const next = await serve();
      try {
        expect(next.output()).not.toMatch(/warning/);
        const listed = await api("GET", `/v1/runs/${runId}/checkpoints`);
        expect(listed.json.data.map((c: { step: number }) => c.step)).toEqual([1]);
        const again = await api("GET", `/v1/runs/${runId}/checkpoints/${step}`);
        expect([again.status, again.json.error.code]).toEqual([404, "checkpoint_expired"]);
        await vi.waitFor(async () => expect(await dirs()).toEqual([1]), { timeout: 10_000 });
        const download = await api("GET", `/v1/runs/${runId}/checkpoints/1/content`);
        expect(download.bytes).toEqual(kept);
        expect((await api("POST", `/v1/runs/${runId}/restore`, { step: 1 })).json).toMatchObject({ step: 1, restored_optimizer: true });
      } finally {
        next.child.kill("SIGKILL");
        await next.exited;
      }
    });
  }
});
