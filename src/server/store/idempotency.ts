import { createHash } from "node:crypto";
import { MemoryReplays } from "./memory-replays.js";
import type { OperationId } from "../http/routes.js";
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
 * Every POST either changes a run, and then its record lives in that run's state file (written
 * atomically with the change, see `changeRun`; an index here maps scopes to runs), or changes
 * nothing (`READ_ONLY_POSTS`), and then its record lives in memory only and does not survive a
 * restart: a retry then does the read again, which changes nothing either.
 */
export class IdempotencyStore {
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #runIndex = new Map<string, string>();
  readonly #memory = new MemoryReplays();

  /** Indexes the records the runs' headers hold; `lookupRun` reads a run's current header. */
  constructor(
    runs: Iterable<RunRecord>,
    readonly lookupRun: (runId: string) => RunRecord | undefined,
  ) {
    for (const run of runs) this.indexRun(run);
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
  find(keyHash: string, scope: string): IdempotencyRecord | undefined {
    const remembered = this.#memory.get(keyHash, scope);
    if (remembered) return remembered.run_id !== undefined && !this.lookupRun(remembered.run_id) ? undefined : remembered;
    const runId = this.#runIndex.get(scope);
    if (runId === undefined) return undefined;
    const record = this.lookupRun(runId)?.idempotency[scope];
    if (!record) this.#runIndex.delete(scope);
    return record;
  }

  /** Keeps the record of a read-only call (`READ_ONLY_POSTS`) in memory: no disk write. */
  remember(keyHash: string, scope: string, record: IdempotencyRecord): void {
    this.#memory.set(keyHash, scope, record);
  }

  /** Indexes the records a run's header holds (after each commit of that run). */
  indexRun(run: RunRecord): void {
    for (const scope of Object.keys(run.idempotency)) this.#runIndex.set(scope, run.run_id);
  }
}
