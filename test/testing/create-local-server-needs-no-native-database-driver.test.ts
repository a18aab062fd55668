import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = fileURLToPath(new URL("./fixtures/local-server-without-sqlite.ts", import.meta.url));

describe("createLocalServer without better-sqlite3", () => {
  it("trains, replays an idempotent retry, checkpoints, downloads, restores and deletes on its in-memory store, writing no file", async () => {
    const temp = mkdtempSync(join(tmpdir(), "local-no-sqlite-"));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script], {
        cwd: root,
        env: { ...process.env, TMPDIR: temp, NODE_OPTIONS: "" },
        timeout: 240_000,
      });
      const seen = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
      expect(seen).toEqual({
        asked: [],
        firstStep: 1,
        replayStep: 1,
        checkpointStep: 2,
        downloaded: expect.any(Number),
        restoredStep: 2,
        currentAfterRestore: 2,
        metrics: [1, 2],
        runsAfterDelete: 0,
      });
      expect(seen.downloaded).toBeGreaterThan(0);
      expect(readdirSync(temp).filter((name) => !name.startsWith("tsx-"))).toEqual([]); // tsx keeps its cache there
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }, 300_000);
});
