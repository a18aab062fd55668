import { createHash } from "node:crypto";
import { MemoryReplays } from "./memory-replays.js";
import type { IdempotencyRecord, RunRecord } from "./run-record.js";
import type { RunStore } from "./run-store.js";

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
  return createHash("sha256")
    .update(`${operationId}\n${rawPath}\n${canonicalJson(body)}`, "utf8")
    .digest("hex");
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
 * Finds stored responses and keeps concurrent duplicates apart.
 *
 * Every POST either changes a run, and then its record is committed in the same transaction as
 * the change (see `changeRun`) and read back from the store by scope, or changes nothing
 * (`changesRun: false` in `OPERATION_TRAITS`), and then its record lives in memory only, bounded per key, and does not
 * survive a restart: a retry then does the read again, which changes nothing either. Nothing
 * here grows with the number of calls a run has had.
 */
export class IdempotencyStore {
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #memory = new MemoryReplays();

  /** `store` reads committed records; `lookupRun` tells whether a run still exists. */
  constructor(
    private readonly store: Pick<RunStore, "findIdempotency">,
    readonly lookupRun: (runId: string) => RunRecord | undefined,
  ) {}

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
    return this.store.findIdempotency(scope);
  }

  /** Keeps the record of a read-only call (`changesRun: false` in `OPERATION_TRAITS`) in memory: no disk write. */
  remember(keyHash: string, scope: string, record: IdempotencyRecord): void {
    this.#memory.set(keyHash, scope, record);
  }
}
