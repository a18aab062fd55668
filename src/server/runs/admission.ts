import { ApiError } from "../wire/api-error.js";
import type { ServerLimits } from "../limits.js";

/** Shortest and longest wait a refused client is asked for. */
const MIN_WAIT_MS = 250;
const MAX_WAIT_MS = 60_000;
/** Weight of the newest interval in the moving average. */
const ALPHA = 0.2;

/** The calls held in one scope (all, one run, one key) and how fast they finish. */
class Scope {
  count = 0;
  #lastRelease = 0;
  #busyAfterLast = false;
  /** Moving average of the time between two calls finishing while the scope is busy. */
  intervalMs = 0;

  release(now: number): void {
    if (this.#busyAfterLast) {
      const interval = now - this.#lastRelease;
      this.intervalMs = this.intervalMs === 0 ? interval : ALPHA * interval + (1 - ALPHA) * this.intervalMs;
    }
    this.count--;
    this.#busyAfterLast = this.count > 0;
    this.#lastRelease = now;
  }

  /** How long until about `count` calls have finished here. */
  waitMs(): number {
    return this.count * (this.intervalMs || 100);
  }
}

/**
 * Bounds the engine-bound calls held at once: over all runs (`maxQueued`), per run
 * (`maxQueuedPerRun`) and per API key (`maxQueuedPerKey`). A call past a bound is refused before
 * its body is read: 429 `rate_limited` for one key's excess, 503 `overloaded` for a full run or
 * server, each with `Retry-After` (whole seconds, as the spec has it) and `retry-after-ms`
 * estimated from how fast calls are finishing, spread out so refused clients do not all come
 * back at once.
 */
export class Admission {
  readonly #all = new Scope();
  readonly #runs = new Map<string, Scope>();
  readonly #keys = new Map<string, Scope>();

  constructor(
    private readonly limits: Pick<ServerLimits, "maxQueued" | "maxQueuedPerRun" | "maxQueuedPerKey">,
    private readonly random: () => number = Math.random,
  ) {}

  /** Calls held now, over all runs. */
  get held(): number {
    return this.#all.count;
  }

  /**
   * Takes a place for one call of `keyHash` (on `runId`, when it names one).
   * @returns the function that gives the place back (call it once, when the call has finished).
   * @throws ApiError 429 `rate_limited` or 503 `overloaded`, with `Retry-After`.
   */
  admit(keyHash: string, runId: string | undefined): () => void {
    const key = this.#keys.get(keyHash) ?? new Scope();
    if (key.count >= this.limits.maxQueuedPerKey) {
      throw this.#refuse(429, key, `This API key has ${key.count} calls in progress or queued, the most the server takes from one key`);
    }
    const run = runId === undefined ? undefined : (this.#runs.get(runId) ?? new Scope());
    if (run && run.count >= this.limits.maxQueuedPerRun) {
      throw this.#refuse(503, run, `Run ${runId} has ${run.count} calls in progress or queued, the most the server queues for one run`);
    }
    if (this.#all.count >= this.limits.maxQueued) {
      throw this.#refuse(503, this.#all, `The server has ${this.#all.count} calls in progress or queued, the most it queues`);
    }
    const held: Array<[Map<string, Scope> | undefined, string, Scope]> = [
      [undefined, "", this.#all],
      [this.#keys, keyHash, key],
    ];
    if (run && runId !== undefined) held.push([this.#runs, runId, run]);
    for (const [map, id, scope] of held) {
      scope.count++;
      map?.set(id, scope);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = performance.now();
      for (const [map, id, scope] of held) {
        scope.release(now);
        if (map && scope.count === 0) map.delete(id);
      }
    };
  }

  #refuse(status: 429 | 503, scope: Scope, why: string): ApiError {
    const waitMs = Math.round(Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, scope.waitMs())) * (1 + 0.5 * this.random()));
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    const headers = { "retry-after": String(seconds), "retry-after-ms": String(waitMs) };
    const message = `${why}; retry after ${seconds} s.`;
    return status === 429
      ? new ApiError(429, "rate_limit_error", "rate_limited", message, undefined, headers)
      : new ApiError(503, "overloaded_error", "overloaded", message, undefined, headers);
  }
}
