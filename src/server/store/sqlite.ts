import { createRequire } from "node:module";
import type BetterSqlite3 from "better-sqlite3";

/** A better-sqlite3 connection. */
export type Database = BetterSqlite3.Database;

/** The exact command that installs the store's database driver. */
export const SQLITE_INSTALL_HINT = "npm install better-sqlite3@^12.9.0";

/**
 * Opens (creating if needed) the SQLite file at `file` in WAL mode with `synchronous=FULL`, so a
 * committed transaction survives a crash or power loss at any instant.
 *
 * better-sqlite3 is an optional peer dependency, loaded here on first use: neither
 * `import "frontier-signal"` nor importing the server module loads it; only starting a server does.
 *
 * @param load loads the driver (a test can stand in a missing one).
 * @throws Error naming the exact `npm install` command when better-sqlite3 is missing or was
 *   installed without its native build (npm skipped its install script).
 */
export function openDatabase(file: string, load: () => unknown = () => createRequire(import.meta.url)("better-sqlite3")): Database {
  let open: typeof BetterSqlite3;
  try {
    open = load() as typeof BetterSqlite3;
  } catch (cause) {
    throw new Error(`The local server keeps its runs in SQLite through better-sqlite3, which is not installed: ${SQLITE_INSTALL_HINT}`, { cause });
  }
  let db: Database;
  try {
    db = open(file);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (code === "ERR_DLOPEN_FAILED" || /bindings file|Could not locate the bindings|NODE_MODULE_VERSION/.test(String(cause))) {
      throw new Error(
        `better-sqlite3 is installed without its native build (npm blocked its install script, or it was built for another Node.js). ` +
          `Approve its install script (add "allowScripts": { "better-sqlite3": true } to package.json), then: npm rebuild better-sqlite3`,
        { cause },
      );
    }
    throw cause;
  }
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  return db;
}

/** SQLite result codes that mean a resource ran out (disk, memory, descriptors), not a bug. */
const EXHAUSTED: Record<string, string> = {
  SQLITE_FULL: "ENOSPC",
  SQLITE_IOERR_WRITE: "EIO",
  SQLITE_IOERR_FSYNC: "EIO",
  SQLITE_NOMEM: "ENOMEM",
  SQLITE_CANTOPEN: "EMFILE",
  SQLITE_BUSY: "EBUSY",
};

/**
 * Gives a SQLite error that means "a resource ran out" the errno-style `code` the server's
 * infrastructure-error mapping understands (e.g. SQLITE_FULL → ENOSPC), keeping the SQLite code
 * as `sqliteCode`. Any other error is returned unchanged.
 */
export function asInfrastructureError(error: unknown): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return error;
  const errno = EXHAUSTED[code] ?? (code.startsWith("SQLITE_IOERR") ? "EIO" : undefined);
  if (!errno) return error;
  const mapped = new Error(`the run store could not write (${code}): ${(error as Error).message}`, { cause: error }) as NodeJS.ErrnoException & {
    sqliteCode: string;
  };
  mapped.code = errno;
  mapped.sqliteCode = code;
  return mapped;
}
