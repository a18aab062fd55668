import { ApiError } from "../wire/api-error.js";

/** Seconds a client is asked to wait after the machine ran out of something. */
const RETRY_AFTER_S = 5;

/** What ran out, by error code (Node's errno codes and SQLite's result codes). */
const EXHAUSTED: Readonly<Record<string, string>> = {
  ENOSPC: "disk space",
  EDQUOT: "disk quota",
  SQLITE_FULL: "disk space (the run store's database is full)",
  EMFILE: "file descriptors (the process's limit)",
  ENFILE: "file descriptors (the system's limit)",
  ENOMEM: "memory",
  SQLITE_NOMEM: "memory (in the run store)",
  ERR_WORKER_OUT_OF_MEMORY: "memory (in an engine worker)",
};

/** Storage that failed or is missing, by error code (prefix match for SQLite's extended codes). */
const UNAVAILABLE: ReadonlyArray<[string, string]> = [
  ["ENOENT", "a file the server's records list is missing from the data directory"],
  ["EIO", "the disk reported an I/O error"],
  ["EROFS", "the data directory is on a read-only file system"],
  ["EACCES", "the server may not access a file of its data directory"],
  ["EPERM", "the server may not access a file of its data directory"],
  ["SQLITE_IOERR", "the run store's database hit an I/O error"],
  ["SQLITE_CANTOPEN", "the run store's database could not be opened"],
  ["SQLITE_READONLY", "the run store's database is read-only"],
  ["SQLITE_BUSY", "the run store's database is locked by another process"],
];

/** An error classified as the server's infrastructure failing, with what to log. */
export interface InfrastructureFailure {
  error: ApiError;
  /** One line for the operator: what ran out or failed, and the original message. */
  logLine: string;
}

/**
 * Classifies an unexpected error: the machine running out of disk, descriptors or memory is a 503
 * `resource_exhausted`, storage failing or missing a file a 503 `storage_unavailable`, both with
 * `Retry-After` (the request did nothing durable, so it is safe to retry), and a log line saying
 * what ran out. The client's message names the resource but no path. Anything else: undefined
 * (a plain 500).
 */
export function classifyInfrastructureError(error: unknown): InfrastructureFailure | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== "string") return undefined;
  const detail = error instanceof Error ? error.message : String(error);
  const exhausted = EXHAUSTED[code];
  if (exhausted !== undefined) {
    return {
      error: new ApiError(
        "resource_exhausted",
        `The server ran out of ${exhausted} (${code}). The request did not complete; retry it later (with the same Idempotency-Key).`,
        undefined,
        { seconds: RETRY_AFTER_S },
      ),
      logLine: `ran out of ${exhausted}: ${detail}`,
    };
  }
  const unavailable = UNAVAILABLE.find(([prefix]) => code === prefix || code.startsWith(`${prefix}_`));
  if (unavailable !== undefined) {
    return {
      error: new ApiError(
        "storage_unavailable",
        `The server's storage failed: ${unavailable[1]} (${code}). The request did not complete; retry it later; if this persists, the server's operator has to repair the data directory.`,
        undefined,
        { seconds: RETRY_AFTER_S },
      ),
      logLine: `storage failed, ${unavailable[1]}: ${detail}`,
    };
  }
  return undefined;
}
