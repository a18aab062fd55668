import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "./atomic-write.js";
import { MemoryReplays } from "./memory-replays.js";
import type { OperationId } from "./routes.js";
import type { IdempotencyRecord, RunRecord } from "./run-record.js";

/** How long and how many idempotency records are kept. */
export const IDEMPOTENCY_DEFAULTS = {
  /** Records older than this are pruned; a retry after that applies the work again. @default 24 h */
  retentionMs: 24 * 60 * 60 * 1000,
  /** Newest records kept per run (they are rewritten with every step of the run). @default 1000 */
  maxPerRun: 1000,
} as const;

/**
 * POSTs without side effects: their idempotency records are kept in memory only (see
 * `MemoryReplays`), so they cost no disk write. Every other POST is durable before its answer.
 */
export const READ_ONLY_POSTS: ReadonlySet<OperationId> = new Set<OperationId>(["sample", "createEmbeddings", "createCompletion"]);

/**
 * The scope of an Idempotency-Key: hashed with the caller's key hash, so two API keys using the
 * same Idempotency-Key never see each other's responses, and neither key is stored.
 */
export function idempotencyScope(keyHash: string, idempotencyKey: string): string {
  return createHash("sha256").update(`${keyHash}\n${idempotencyKey}`, "utf8").digest("hex");
}

/**
 * Fingerprint of a request: the operation, the raw path and the body with object keys sorted,
 * so key order and whitespace do not make "the same body" different.
 */
export function requestHash(operationId: string, rawPath: string, body: unknown): string {
  return createHash("sha256").update(`${operationId}\n${rawPath}\n${canonicalJson(body)}`, "utf8").digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * Adds a record to a run's header (to be committed in the same atomic write as the work it
 * describes) and prunes old ones.
 */
export function addRecordToRun(run: RunRecord, scope: string, record: IdempotencyRecord, now = Date.now()): void {
  const kept = Object.entries(run.idempotency)
    .filter(([, r]) => now - r.created_at < IDEMPOTENCY_DEFAULTS.retentionMs)
    .sort(([, a], [, b]) => b.created_at - a.created_at)
    .slice(0, IDEMPOTENCY_DEFAULTS.maxPerRun - 1);
  run.idempotency = Object.fromEntries([[scope, record], ...kept]);
}

/**
 * Finds stored responses and keeps concurrent duplicates apart.
 *
 * Records of calls that change a run live in that run's state file (written atomically with the
 * change); an index maps their scopes to the run. Records of calls that change nothing
 * (`READ_ONLY_POSTS`) live in memory only and do not survive a restart: a retry then does the
 * read again, which changes nothing either. A successful POST that neither changed a run nor is
 * read-only would be stored durably in `idempotency/<scope>.json` (no operation does so today).
 */
export class IdempotencyStore {
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #runIndex = new Map<string, string>();
  readonly #memory = new MemoryReplays();
  /** Scopes with a file in the side store: a miss never touches the disk (it cost ~0.8 ms a call). */
  readonly #sideScopes = new Set<string>();
  readonly #dir: string;

  private constructor(
    dataDir: string,
    readonly lookupRun: (runId: string) => RunRecord | undefined,
  ) {
    this.#dir = path.join(dataDir, "idempotency");
  }

  /** Opens the side store (pruning expired records) and indexes the records of `runs`. */
  static async open(dataDir: string, runs: Iterable<RunRecord>, lookupRun: (runId: string) => RunRecord | undefined): Promise<IdempotencyStore> {
    const store = new IdempotencyStore(dataDir, lookupRun);
    await mkdir(store.#dir, { recursive: true });
    for (const run of runs) store.indexRun(run);
    const now = Date.now();
    for (const name of await readdir(store.#dir)) {
      const file = path.join(store.#dir, name);
      const info = await stat(file).catch(() => undefined);
      if (!name.endsWith(".json") || !info || now - info.mtimeMs > IDEMPOTENCY_DEFAULTS.retentionMs) await rm(file, { force: true });
      else store.#sideScopes.add(name.slice(0, -".json".length));
    }
    return store;
  }

  /**
   * Waits until no other request holds `scope`, then holds it. The caller must call the
   * returned release function when its response is decided, so a concurrent duplicate waits for
   * the first one and then replays its record instead of doing the work again.
   */
  async acquire(scope: string): Promise<() => void> {
    for (let held = this.#inflight.get(scope); held; held = this.#inflight.get(scope)) await held;
    let release!: () => void;
    this.#inflight.set(scope, new Promise<void>((resolve) => (release = resolve)));
    return () => {
      this.#inflight.delete(scope);
      release();
    };
  }

  /** The stored response for `scope` of the key `keyHash`, if any and if the run it belongs to still exists. */
  async find(keyHash: string, scope: string): Promise<IdempotencyRecord | undefined> {
    const remembered = this.#memory.get(keyHash, scope);
    if (remembered) return remembered.run_id !== undefined && !this.lookupRun(remembered.run_id) ? undefined : remembered;
    const runId = this.#runIndex.get(scope);
    if (runId !== undefined) {
      const record = this.lookupRun(runId)?.idempotency[scope];
      if (record) return record;
      this.#runIndex.delete(scope);
    }
    if (!this.#sideScopes.has(scope)) return undefined;
    let record: IdempotencyRecord;
    try {
      record = JSON.parse(await readFile(this.#file(scope), "utf8")) as IdempotencyRecord;
    } catch {
      return undefined;
    }
    if (Date.now() - record.created_at > IDEMPOTENCY_DEFAULTS.retentionMs) return undefined;
    if (record.run_id !== undefined && !this.lookupRun(record.run_id)) return undefined;
    return record;
  }

  /** Keeps the record of a read-only call (`READ_ONLY_POSTS`) in memory: no disk write. */
  remember(keyHash: string, scope: string, record: IdempotencyRecord): void {
    this.#memory.set(keyHash, scope, record);
  }

  /** Stores the record of a call that changed nothing durable, durably (fsync'ed). */
  async saveSide(scope: string, record: IdempotencyRecord): Promise<void> {
    await writeFileAtomic(this.#file(scope), JSON.stringify(record));
    this.#sideScopes.add(scope);
  }

  /** Indexes the records a run's header holds (after each commit of that run). */
  indexRun(run: RunRecord): void {
    for (const scope of Object.keys(run.idempotency)) this.#runIndex.set(scope, run.run_id);
  }

  #file(scope: string): string {
    return path.join(this.#dir, `${scope}.json`);
  }
}
