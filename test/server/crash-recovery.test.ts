import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { QA, call } from "./helpers.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const KEY = "sk-crash-test";
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Runs `signal serve` from the bin script as its own process and resolves once it listens. */
async function serve(dataDir: string): Promise<{ child: ChildProcess; url: string; key: string; output: () => string }> {
  const child = spawn(process.execPath, [`${root}bin/signal.js`, "serve", "--port", "0", "--data-dir", dataDir, "--api-key", KEY, "--workers", "1"], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`signal serve exited with ${code}:\n${output}`)));
  });
  return { child, url, key: KEY, output: () => output };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

describe("signal serve killed with SIGKILL", () => {
  it("loses no acknowledged step and applies a retried one exactly once", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "signal-crash-"));
    dirs.push(dataDir);
    let server = await serve(dataDir);
    const runId = (await call(server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny", learning_rate: 0.02 } })).body.run_id as string;
    const step = (i: number) => call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA }, headers: { "idempotency-key": `step-${i}` } });

    const acked: unknown[] = [];
    for (let i = 1; i <= 4; i++) acked.push((await step(i)).body);
    // Step 5 is in flight when the process dies: it may or may not have been applied.
    const inFlight = step(5).catch(() => undefined);
    server.child.kill("SIGKILL");
    await inFlight;
    await exited(server.child);

    server = await serve(dataDir);
    const afterCrash = (await call(server, "GET", `/v1/runs/${runId}`)).body.current_step as number;
    expect([4, 5]).toContain(afterCrash);
    for (let i = 5; i <= 6; i++) expect((await step(i)).status).toBe(200);
    expect((await call(server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(6);
    const metrics = (await call(server, "GET", `/v1/runs/${runId}/metrics`)).body.data as { step: number }[];
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 1; i <= 4; i++) {
      const replay = await step(i);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(replay.body).toEqual(acked[i - 1]);
    }

    server.child.kill("SIGTERM");
    expect(await exited(server.child)).toBe(0);
    expect(server.output()).toMatch(/POST \/v1\/runs\/run_\w+\/train_step 200 [\d.]+ms req_[0-9a-f]{16}/);
    expect(server.output()).not.toContain(KEY);
  });
});
