import { type ChildProcess, spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type SpawnedServer, spawnServer } from "./spawn-server.js";

// Real faults in a real server process: strace makes the kernel calls fail (`inject=…:error=…`)
// while it is attached, as a full disk or an exhausted descriptor table would.

let server: SpawnedServer;
let runId: string;
let strace: ChildProcess | undefined;
const batch = [{ prompt: "Q: red?\nA:", completion: " apple\n" }];

beforeAll(async () => {
  server = await spawnServer();
  runId = (await call("POST", "/v1/runs", { base_model: "signal-byte-tiny" })).body.run_id;
});
afterEach(async () => {
  await detach();
});
afterAll(async () => {
  await server?.dispose();
});

async function call(method: string, pathname: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(server.url + pathname, {
    method,
    headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

/** Attaches strace to every thread of the server, failing `syscalls` with `errno`; resolves once attached. */
async function inject(syscalls: string, errno: string): Promise<void> {
  const child = spawn(
    "strace",
    ["-f", "-p", String(server.child.pid), "-e", `trace=${syscalls}`, "-e", `inject=${syscalls}:error=${errno}`, "-o", "/dev/null"],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  strace = child;
  await new Promise<void>((resolve, reject) => {
    let text = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (/attached/.test(text)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`strace exited (${code}) before attaching: ${text}`)));
  });
}

async function detach(): Promise<void> {
  const child = strace;
  strace = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGINT");
  await exited;
}

function expectRetryable503(reply: { status: number; headers: Headers; body: any }, code: string): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(503);
  expect(reply.body.error.code).toBe(code);
  expect(Number(reply.headers.get("retry-after"))).toBeGreaterThan(0);
}

describe("infrastructure failures", () => {
  it("a full disk while a step is persisted is a 503 resource_exhausted, logged, and the retry applies the step once", async () => {
    const before = (await call("GET", `/v1/runs/${runId}`)).body.current_step as number;
    // The run store's database writes with pwrite64; a full disk fails those with ENOSPC.
    await inject("pwrite64", "ENOSPC");
    const failed = await call("POST", `/v1/runs/${runId}/train_step`, { batch }, { "idempotency-key": "disk-full-1" });
    await detach();
    expectRetryable503(failed, "resource_exhausted");
    expect(failed.body.error.message).toMatch(/disk space/);
    expect(server.output()).toMatch(new RegExp(`error ${failed.body.error.request_id}: resource_exhausted: ran out of disk space`));
    const retried = await call("POST", `/v1/runs/${runId}/train_step`, { batch }, { "idempotency-key": "disk-full-1" });
    expect(retried.status).toBe(200);
    expect(retried.body.step).toBe(before + 1);
  });

  it("running out of file descriptors is a 503 resource_exhausted that names them", async () => {
    await inject("open,openat", "EMFILE");
    const failed = await call("POST", `/v1/runs/${runId}/checkpoints`, { mode: "state" });
    await detach();
    expectRetryable503(failed, "resource_exhausted");
    expect(failed.body.error.message).toMatch(/file descriptors/);
    expect(server.output()).toMatch(/resource_exhausted: ran out of file descriptors/);
  });

  it("restoring a checkpoint whose files are gone from disk is a 503 storage_unavailable, not an opaque 500", async () => {
    const saved = await call("POST", `/v1/runs/${runId}/checkpoints`, { mode: "state" });
    expect(saved.status).toBe(201);
    const dataDir = /data dir (.+)\)/.exec(server.output())![1]!;
    await rm(path.join(dataDir, "runs", runId, "checkpoints"), { recursive: true, force: true });
    const restored = await call("POST", `/v1/runs/${runId}/restore`, { step: saved.body.step });
    expectRetryable503(restored, "storage_unavailable");
    expect(server.output()).toMatch(/storage_unavailable: storage failed, a file the server's records list is missing/);
  });
});
