import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { RunStore } from "../../src/server/store/run-store.js";

// Checkpoint lifetimes added a column to `checkpoints` (schema 3). A database written before
// it opens, gains the column, and its checkpoints keep never expiring.

const Database = createRequire(import.meta.url)("better-sqlite3") as typeof BetterSqlite3;
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe("a schema-2 data directory", () => {
  it("opens as schema 3 with expires_at added and its checkpoints unexpiring", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "signal-schema2-"));
    dirs.push(dir);
    await mkdir(path.join(dir, "runs"));
    const old = new Database(path.join(dir, "signal.db"));
    old.exec(`
      CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, owner TEXT NOT NULL, header TEXT NOT NULL);
      CREATE TABLE checkpoints (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, step INTEGER NOT NULL, mode TEXT NOT NULL,
        size_bytes INTEGER NOT NULL, created_at TEXT NOT NULL, dir TEXT NOT NULL, PRIMARY KEY (run_id, step)
      ) WITHOUT ROWID;
      INSERT INTO store_meta VALUES ('schema_version', '2');
      INSERT INTO runs VALUES ('run_aaaaaaaaaaaaaaaa', 'owner', '{"current_step":1}');
      INSERT INTO checkpoints VALUES ('run_aaaaaaaaaaaaaaaa', 1, 'adapter', 10, '2026-01-01T00:00:00.000Z', '1');
    `);
    old.close();
    const store = await RunStore.open(dir);
    expect(store.get("run_aaaaaaaaaaaaaaaa")?.checkpoints).toEqual([
      { step: 1, mode: "adapter", size_bytes: 10, created_at: "2026-01-01T00:00:00.000Z", dir: "1" },
    ]);
    store.close();
    const db = new Database(path.join(dir, "signal.db"));
    try {
      expect((db.prepare("PRAGMA table_info(checkpoints)").all() as { name: string }[]).map((c) => c.name)).toContain("expires_at");
      expect(db.prepare("SELECT value FROM store_meta WHERE key = 'schema_version'").pluck().get()).toBe("3");
    } finally {
      db.close();
    }
  });
});
