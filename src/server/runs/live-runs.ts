import type { Engine } from "../engine/types.js";
import type { RunRecord } from "../store/run-record.js";
import type { RunStorage } from "../store/run-store.js";
import type { RunQueue } from "./run-queue.js";

/** How many runs the engine may hold, and for how long an unused one stays. */
export interface LiveRunLimits {
  /** Runs loaded at once; past it the least recently used one is unloaded. */
  maxLoadedRuns: number;
  /** A run not used for this long is unloaded. */
  runIdleMs: number;
}

interface Loaded {
  loading: Promise<void>;
  lastUsed: number;
  /** Bumped on every use, so an unload decided earlier can see the run was used since. */
  uses: number;
  /** Requests using the run outside its queue (sampling from its live weights); never unloaded meanwhile. */
  holds: number;
}

/**
 * Which runs the engine holds. A run is loaded from the store the first time it is used (after a
 * restart, nothing is loaded up front), and loaded again after a failure, so the engine never
 * keeps a change that was not persisted. Memory stays bounded: the least recently used run is
 * unloaded once more than `maxLoadedRuns` are loaded, and any run unused for `runIdleMs`. An
 * unload goes through the run's queue, after the calls already queued for it, and the next use
 * reloads the last durable state — the same state, since every applied call is committed before
 * it is answered. A run held by a request in progress (`hold`) is not unloaded, so at most
 * `maxLoadedRuns` plus the runs of the requests in progress are loaded.
 */
export class LiveRuns {
  /** Loaded (or loading) runs, least recently used first. */
  readonly #loaded = new Map<string, Loaded>();
  /** Runs being unloaded: a reload waits for the engine to have dropped them. */
  readonly #unloading = new Map<string, Promise<void>>();
  #sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly store: RunStorage,
    private readonly queue: RunQueue,
    private readonly limits: LiveRunLimits,
    private readonly now: () => number = Date.now,
  ) {
    if (Number.isFinite(limits.runIdleMs)) {
      this.#sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(limits.runIdleMs / 2, 60_000)));
      this.#sweeper.unref();
    }
  }

  /** Runs the engine holds now (or is loading). */
  get size(): number {
    return this.#loaded.size;
  }

  /** Marks a run the engine created itself (createRun) as loaded. */
  markLoaded(runId: string): void {
    this.#touch(runId, Promise.resolve());
  }

  /** Loads the run into the engine unless it is already. */
  ensure(run: RunRecord): Promise<void> {
    const runId = run.run_id;
    const entry = this.#loaded.get(runId);
    if (entry) return this.#touch(runId, entry.loading);
    const unloaded = this.#unloading.get(runId) ?? Promise.resolve();
    const loading = unloaded.then(() => this.store.readState(runId)).then((state) => this.engine.loadRun(runId, run.config, state));
    loading.then(
      () => {
        // Loading took time: count the run as used from when it is ready.
        const loaded = this.#loaded.get(runId);
        if (loaded?.loading === loading) loaded.lastUsed = this.now();
      },
      () => {
        if (this.#loaded.get(runId)?.loading === loading) this.#loaded.delete(runId);
      },
    );
    return this.#touch(runId, loading);
  }

  /**
   * Keeps the run loaded until `release` is called (for a request that uses its live weights
   * outside its queue: sampling, embeddings).
   * @returns release, idempotent.
   */
  hold(runId: string): () => void {
    const entry = this.#loaded.get(runId);
    if (!entry) return () => {};
    entry.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      entry.holds--;
      entry.lastUsed = this.now();
      this.#evictExcess();
    };
  }

  /**
   * Drops the engine's copy of a run, e.g. after a step that could not be persisted: the next
   * use reloads the last durable state, so a retry cannot apply the step twice.
   */
  async discard(runId: string): Promise<void> {
    this.#loaded.delete(runId);
    await this.engine.dropRun(runId).catch(() => undefined);
  }

  /** Unloads every run unused for `runIdleMs` (also called by a timer). */
  sweep(): void {
    const cutoff = this.now() - this.limits.runIdleMs;
    for (const [runId, entry] of this.#loaded) {
      if (entry.lastUsed <= cutoff) this.#unload(runId, entry.uses, () => entry.lastUsed <= this.now() - this.limits.runIdleMs);
    }
  }

  /** Stops the idle timer. */
  close(): void {
    clearInterval(this.#sweeper);
  }

  /** Counts a use of the run (moving it to the most recently used end) and evicts past the cap. */
  #touch(runId: string, loading: Promise<void>): Promise<void> {
    const entry = this.#loaded.get(runId) ?? { loading, lastUsed: 0, uses: 0, holds: 0 };
    this.#loaded.delete(runId);
    entry.loading = loading;
    entry.lastUsed = this.now();
    entry.uses++;
    this.#loaded.set(runId, entry);
    this.#evictExcess();
    return loading;
  }

  /** Unloads least recently used runs (not held) while more than `maxLoadedRuns` are loaded. */
  #evictExcess(): void {
    let excess = this.#loaded.size - this.limits.maxLoadedRuns;
    for (const [runId, entry] of this.#loaded) {
      if (excess <= 0) break;
      if (entry.holds > 0) continue;
      excess--;
      this.#unload(runId, entry.uses, () => this.#loaded.size > this.limits.maxLoadedRuns);
    }
  }

  /**
   * Unloads `runId` in its queue turn, unless it was used after the decision (`uses` changed) or
   * `stillWanted` says no. A call arriving meanwhile finds it gone and reloads it after the drop.
   */
  #unload(runId: string, uses: number, stillWanted: () => boolean): void {
    void this.queue.run(runId, async () => {
      const entry = this.#loaded.get(runId);
      if (!entry || entry.uses !== uses || entry.holds > 0 || !stillWanted()) return;
      this.#loaded.delete(runId);
      // Loaded fully (or failed) before it is dropped, so the drop is the engine's last word on it.
      const dropped = entry.loading
        .catch(() => undefined)
        .then(() => this.engine.dropRun(runId))
        .catch(() => undefined);
      this.#unloading.set(runId, dropped);
      await dropped;
      if (this.#unloading.get(runId) === dropped) this.#unloading.delete(runId);
    });
  }
}
