import type { AdapterCache } from "./adapter-cache.js";
import type { RunEvents } from "./run-events.js";
import type { RunQueue } from "./run-queue.js";
import { type CheckpointRecord, EXPIRED_KEPT, type RunRecord } from "../store/run-record.js";
import type { RunStorage } from "../store/run-store.js";

/** How often the background sweep looks for expired checkpoints. */
export const EXPIRY_DEFAULTS = {
  /** @default 60 000 ms */
  sweepMs: 60_000,
} as const;

/** True once the checkpoint's `expires_at` is at or before `now` (epoch ms). */
export function isExpired(checkpoint: Pick<CheckpointRecord, "expires_at">, now: number): boolean {
  return checkpoint.expires_at != null && Date.parse(checkpoint.expires_at) <= now;
}

/**
 * Removes expired checkpoints. Requests never wait for it: they check `isExpired` themselves
 * (so what they answer never depends on when the removal runs) and call `removeSoon`. A removal
 * goes through the run's queue like any change and is the same as a `deleteCheckpoint`: the row
 * goes in one transaction (with a note that the step expired, so it is still answered
 * `checkpoint_expired`), then the files; a crash between the two leaves files no row names,
 * which the store removes when it opens. A sweep also runs on a timer and once at start, so
 * expired checkpoints no request asks for go too.
 */
export class CheckpointExpiry {
  readonly #removing = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly store: RunStorage,
    private readonly queue: RunQueue,
    private readonly adapters: AdapterCache,
    private readonly events: RunEvents,
    private readonly clock: () => number,
    sweepMs: number = EXPIRY_DEFAULTS.sweepMs,
  ) {
    this.#timer = setInterval(() => void this.sweep(), sweepMs);
    this.#timer.unref();
  }

  /** Removes every expired checkpoint of every run (also called by the timer). */
  async sweep(): Promise<void> {
    const now = this.clock();
    const runs = [...this.store.all()].filter((run) => run.checkpoints.some((c) => isExpired(c, now)));
    await Promise.all(runs.map((run) => this.removeSoon(run.run_id)));
  }

  /** Queues the removal of the run's expired checkpoints, once however often it is asked. */
  removeSoon(runId: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    let removing = this.#removing.get(runId);
    if (!removing) {
      removing = this.queue
        .run(runId, () => this.#remove(runId))
        // A failed removal (disk) is retried by the next sweep; requests already answer 404.
        .catch(() => undefined)
        .finally(() => this.#removing.delete(runId));
      this.#removing.set(runId, removing);
    }
    return removing;
  }

  /** Stops the timer; removals already queued finish with the run queue. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  async #remove(runId: string): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      const run = this.store.get(runId);
      const expired = run?.checkpoints.find((c) => isExpired(c, this.clock()));
      if (!run || !expired) return;
      await this.store.commit(withoutExpired(run, expired), { removeCheckpoint: expired.step });
      this.events.publish({ type: "checkpoint.deleted", run_id: runId, step: expired.step });
      await this.adapters.drop(`${runId}@${expired.step}#`);
    }
  }
}

/** The run's header without `checkpoint`, remembering that its step expired. */
function withoutExpired(run: RunRecord, checkpoint: CheckpointRecord): RunRecord {
  const record = structuredClone(run);
  record.checkpoints = run.checkpoints.filter((c) => c.step !== checkpoint.step);
  const kept = (run.expired_checkpoints ?? []).filter((e) => e.step !== checkpoint.step);
  kept.push({ step: checkpoint.step, expires_at: checkpoint.expires_at! });
  record.expired_checkpoints = kept.slice(-EXPIRED_KEPT);
  return record;
}
