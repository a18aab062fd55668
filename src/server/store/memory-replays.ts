import { LRUCache } from "lru-cache";
import type { IdempotencyRecord } from "./run-record.js";

/** Bounds of the in-memory records of calls that change nothing. */
const MEMORY_REPLAY_DEFAULTS = {
  /** Newest records kept per API key; the least recently used go first. @default 4096 */
  maxPerKey: 4096,
  /** Bytes of stored response bodies (as JSON) kept per API key. @default 32 MiB */
  maxBytesPerKey: 32 * 1024 * 1024,
  /** A record older than this is forgotten; a retry after that samples again. @default 1 h */
  ttlMs: 60 * 60 * 1000,
} as const;

/**
 * Idempotency records of POSTs without side effects (sample, createEmbeddings, createCompletion),
 * in memory only, bounded per API key so one busy key cannot evict another's records.
 *
 * Why not on disk like the others: replaying such a call only saves recomputing it and keeps an
 * unseeded sample's retry from giving a different text; it never decides whether work is applied
 * twice, because there is no work to apply. A record that dies with the process therefore costs
 * at most a fresh answer after a restart, while an fsync'ed write per call cost ~10 ms.
 */
export class MemoryReplays {
  readonly #byKey = new Map<string, LRUCache<string, IdempotencyRecord>>();

  constructor(private readonly limits: { maxPerKey: number; maxBytesPerKey: number; ttlMs: number } = MEMORY_REPLAY_DEFAULTS) {}

  get(keyHash: string, scope: string): IdempotencyRecord | undefined {
    return this.#byKey.get(keyHash)?.get(scope);
  }

  /** Keeps `record` unless its body alone exceeds the per-key byte bound. */
  set(keyHash: string, scope: string, record: IdempotencyRecord): void {
    let cache = this.#byKey.get(keyHash);
    if (!cache) {
      cache = new LRUCache<string, IdempotencyRecord>({
        max: this.limits.maxPerKey,
        maxSize: this.limits.maxBytesPerKey,
        sizeCalculation: (r) => Math.max(1, JSON.stringify(r.body)?.length ?? 1),
        ttl: this.limits.ttlMs,
      });
      this.#byKey.set(keyHash, cache);
    }
    cache.set(scope, record);
  }
}
