import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { SQLITE_INSTALL_HINT, asInfrastructureError, openDatabase } from "../../src/server/store/sqlite.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

describe("the run store's SQLite driver (better-sqlite3, an optional peer)", () => {
  it("is not loaded by importing the server module, only by opening a store", async () => {
    const script = `
      import { createRequire } from "node:module";
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).some((id) => id.includes("better-sqlite3"));
      await import(${JSON.stringify(`${root}src/server/index.ts`)});
      const afterImport = loaded();
      const { RunStore } = await import(${JSON.stringify(`${root}src/server/store/run-store.ts`)});
      const store = await RunStore.open(process.argv[1]);
      store.close();
      process.stdout.write(JSON.stringify({ afterImport, afterOpen: loaded() }));
    `;
    const dir = await mkdtemp(path.join(tmpdir(), "signal-sqlite-load-"));
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script, dir], { cwd: root });
      expect(JSON.parse(stdout)).toEqual({ afterImport: false, afterOpen: true });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("when missing, is named with the exact install command", () => {
    const missing = () => {
      throw Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: "MODULE_NOT_FOUND" });
    };
    expect(() => openDatabase(":memory:", missing)).toThrow(SQLITE_INSTALL_HINT);
    expect(SQLITE_INSTALL_HINT).toBe("npm install better-sqlite3@^12.9.0");
  });

  it("gives a full disk the errno code the server's error mapping knows", () => {
    const full = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    expect(asInfrastructureError(full)).toMatchObject({ code: "ENOSPC", sqliteCode: "SQLITE_FULL" });
    const bug = Object.assign(new Error("no such table"), { code: "SQLITE_ERROR" });
    expect(asInfrastructureError(bug)).toBe(bug);
  });
});
