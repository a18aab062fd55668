import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/free-port.js";
import { holdSyscalls, rawApi, requireStrace } from "./strace-harness.js";
import { spawnServer, type SpawnedServer } from "./spawn-server.js";

// Saving a checkpoint again at a step that has one must never destroy the acknowledged copy.
// strace holds one kind of system call for a while in the running server (its fault injection,
// `delay_enter`), the re-save is sent, and the server is SIGKILLed while it is held: inside the
// window between the old copy's removal and the new one's rename (the state-file format lost the
// checkpoint there), and inside fsyncs early and late in the save. After a restart,
// every acknowledged checkpoint must still download its bytes, sample and restore.

const KEY = "sk-fault-checkpoint";
const QA = [{ prompt: "Q: red?\nA:", completion: " apple\n" }];
const GREEDY = { prompts: ["Q: red?\nA:"], max_tokens: 8, temperature: 0 };

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
  dataDir = await mkdtemp(path.join(tmpdir(), "signal-fault-checkpoint-"));
  port = await freePort();
});
afterAll(async () => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
});

describe("a checkpoint saved again at its step, with the server killed during the save", () => {
  let runId: string;
  let adapter: Uint8Array;
  let sampled: string;

  beforeAll(async () => {
    const server = await serve();
    const created = await api("POST", "/v1/runs", { base_model: "signal-byte-tiny", learning_rate: 0.02, lora_r: 4, seed: 5 });
    runId = created.json.run_id;
    for (let i = 0; i < 2; i++) expect((await api("POST", `/v1/runs/${runId}/train_step`, { batch: QA })).status).toBe(200);
    expect((await api("POST", `/v1/runs/${runId}/checkpoints`, { mode: "state" })).status).toBe(201);
    adapter = (await api("GET", `/v1/runs/${runId}/checkpoints/2/content`)).bytes;
    sampled = (await api("POST", `/v1/runs/${runId}/sample`, { ...GREEDY, step: 2 })).json.samples[0].text;
    server.child.kill("SIGKILL");
    await server.exited;
  });

  // Each fsync of the re-save held 1 s: a kill at 0.5 s lands in the first file's fsync, one at
  // 4.5 s in a later fsync of the files, their directories or the commit that lists them.
  const windows: { name: string; syscalls: string[]; holdMs: number; killAfterMs: number }[] = [
    { name: "the rename of the new copy (held 3 s, kill at 1.5 s)", syscalls: ["rename", "renameat", "renameat2"], holdMs: 3000, killAfterMs: 1500 },
    { name: "the first fsync of the new copy (each held 1 s, kill at 0.5 s)", syscalls: ["fsync", "fdatasync"], holdMs: 1000, killAfterMs: 500 },
    { name: "the fifth fsync of the save (each held 1 s, kill at 4.5 s)", syscalls: ["fsync", "fdatasync"], holdMs: 1000, killAfterMs: 4500 },
  ];

  for (const window of windows) {
    it(`leaves it whole when the kill lands in ${window.name}`, async () => {
      const server = await serve();
      const strace = await holdSyscalls(server.child.pid!, window.syscalls, window.holdMs, spawned);
      const resave = api("POST", `/v1/runs/${runId}/checkpoints`, { mode: "state" }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, window.killAfterMs));
      server.child.kill("SIGKILL");
      await server.exited;
      await resave;
      strace.kill("SIGKILL");

      const next = await serve();
      try {
        expect(next.output()).not.toMatch(/warning/);
        const listed = await api("GET", `/v1/runs/${runId}/checkpoints`);
        expect(listed.json.data.map((c: { step: number }) => c.step)).toEqual([2]);
        expect((await api("GET", `/v1/runs/${runId}/checkpoints/2`)).status).toBe(200);
        const download = await api("GET", `/v1/runs/${runId}/checkpoints/2/content`);
        expect(download.status).toBe(200);
        expect(download.bytes).toEqual(adapter);
        const sample = await api("POST", `/v1/runs/${runId}/sample`, { ...GREEDY, step: 2 });
        expect(sample.status).toBe(200);
        expect(sample.json.samples[0].text).toBe(sampled);
        const restore = await api("POST", `/v1/runs/${runId}/restore`, { step: 2 });
        expect(restore.status).toBe(200);
        expect(restore.json).toMatchObject({ step: 2, restored_optimizer: true });
      } finally {
        next.child.kill("SIGKILL");
        await next.exited;
      }
    });
  }
});
