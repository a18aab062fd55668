import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEngine } from "../../src/server/engine/index.js";
import type { Engine } from "../../src/server/engine/types.js";
import { type RunningServer, startServer } from "../../src/server/index.js";

// The guide's examples are type-checked by `npm run check`; here each one runs as its own
// process, as a user would run it, against a real server on loopback.
const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));
const examplesDir = join(root, "scripts/examples");
const examples = (await readdir(examplesDir)).filter((name) => /^\d\d-.*\.ts$/.test(name)).sort();
const apiKey = "sk-examples-test";

let engine: Engine;
let server: RunningServer;
let dataDir: string;
beforeAll(async () => {
  engine = await createEngine({ workers: 1 });
  dataDir = await mkdtemp(join(tmpdir(), "signal-examples-"));
  server = await startServer({ port: 0, dataDir, apiKeys: [apiKey], log: false, engine });
});
afterAll(async () => {
  await server?.close();
  await engine?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe("the guide's examples in scripts/examples", () => {
  it("are all there", () => {
    expect(examples).toHaveLength(11);
  });

  it.each(examples)("%s runs to completion against the local server", async (name) => {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", join(examplesDir, name)], {
      cwd: root,
      env: { ...process.env, SIGNAL_API_KEY: apiKey, SIGNAL_BASE_URL: server.url, SIGNAL_LOG: "" },
      timeout: 60_000,
    });
    expect(stderr).not.toMatch(/Error/);
    expect(stdout.length).toBeGreaterThan(0);
    expect(stdout + stderr).not.toContain(apiKey);
  });
});
