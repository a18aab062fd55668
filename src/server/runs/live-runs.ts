import type { Engine } from "../engine/types.js";
import type { RunRecord } from "../store/run-record.js";
import type { RunStore } from "../store/run-store.js";

/**
 * Which runs the engine holds. A run is loaded from its state file the first time it is used
 * (after a restart, nothing is loaded up front), and loaded again from disk after a failure, so
 * the engine never keeps a change that was not persisted.
 */
export class LiveRuns {
  readonly #loaded = new Map<string, Promise<void>>();

  constructor(
    private readonly engine: Engine,
    private readonly store: RunStore,
  ) {}

  /** Marks a run the engine created itself (createRun) as loaded. */
  markLoaded(runId: string): void {
    this.#loaded.set(runId, Promise.resolve());
  }

  /** Loads the run into the engine unless it is already. */
  ensure(run: RunRecord): Promise<void> {
    let loading = this.#loaded.get(run.run_id);
    if (!loading) {
      loading = this.store.readState(run.run_id).then((state) => this.engine.loadRun(run.run_id, run.config, state));
      this.#loaded.set(run.run_id, loading);
      loading.catch(() => {
        if (this.#loaded.get(run.run_id) === loading) this.#loaded.delete(run.run_id);
      });
    }
    return loading;
  }

  /**
   * Drops the engine's copy of a run, e.g. after a step that could not be persisted: the next
   * use reloads the last durable state, so a retry cannot apply the step twice.
   */
  async discard(runId: string): Promise<void> {
    this.#loaded.delete(runId);
    await this.engine.dropRun(runId).catch(() => undefined);
  }
}
