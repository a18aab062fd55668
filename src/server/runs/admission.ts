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
  /** Of `count`, the calls still waiting for their body or their turn (a key's scope only). */
  held = 0;
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

/** One admitted call's place. */
export interface Place {
  /**
   * The call is ready to run (its body is read and, for a pipelined call, its turn has come):
   * it takes a place in the server's shared queue. Calling it again does nothing.
   * @throws ApiError 503 `overloaded` with `Retry-After` when the server's queue is full (the
   *   call keeps its held place until `release`).
   */
  enter(): void;
  /** Gives the place back, held or entered; call it once the call has finished (again: nothing). */
  release(): void;
}

/**
 * Bounds the engine-bound calls at once. A call is admitted before its body is read, as *held*:
 * it counts against its key (`maxQueuedPerKey`, and `maxHeldPerKey` for the calls held) and its
 * run (`maxQueuedPerRun`), but not against the server's shared queue, so a client that sends
 * headers and then its body slowly, or pipelines calls that wait for a missing position, uses
 * up only its own allowance. It *enters* the shared queue (`maxQueued`) once it is ready to run.
 * A call past a bound is refused: 429 `rate_limited` for one key's excess, 503 `overloaded` for
 * a full run or server, each with `Retry-After` (whole seconds, as the spec has it) and
 * `retry-after-ms` estimated from how fast calls are finishing, spread out so refused clients
 * do not all come back at once.
 */
export class Admission {
  readonly #all = new Scope();
  readonly #runs = new Map<string, Scope>();
  readonly #keys = new Map<string, Scope>();

  constructor(
    private readonly limits: Pick<ServerLimits, "maxQueued" | "maxQueuedPerRun" | "maxQueuedPerKey" | "maxHeldPerKey">,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Takes a held place for one call of `keyHash` (on `runId`, when it names one).
   * @throws ApiError 429 `rate_limited` or 503 `overloaded`, with `Retry-After`.
   */
  admit(keyHash: string, runId: string | undefined): Place {
    const key = this.#keys.get(keyHash) ?? new Scope();
    if (key.count >= this.limits.maxQueuedPerKey) {
      throw this.#refuse("rate_limited", key, `This API key has ${key.count} calls in progress or queued, the most the server takes from one key`);
    }
    if (key.held >= this.limits.maxHeldPerKey) {
      throw this.#refuse(
        "rate_limited",
        key,
        `This API key has ${key.held} calls still sending their body or waiting for an earlier call of their sequence, the most the server holds for one key`,
      );
    }
    const run = runId === undefined ? undefined : (this.#runs.get(runId) ?? new Scope());
    if (run && run.count >= this.limits.maxQueuedPerRun) {
      throw this.#refuse("overloaded", run, `Run ${runId} has ${run.count} calls in progress or queued, the most the server queues for one run`);
    }
    key.count++;
    key.held++;
    this.#keys.set(keyHash, key);
    if (run && runId !== undefined) {
      run.count++;
      this.#runs.set(runId, run);
    }
    let state: "held" | "entered" | "released" = "held";
    return {
      enter: () => {
        if (state !== "held") return;
        if (this.#all.count >= this.limits.maxQueued) {
          throw this.#refuse("overloaded", this.#all, `The server has ${this.#all.count} calls in progress or queued, the most it queues`);
        }
        this.#all.count++;
        key.held--;
        state = "entered";
      },
      release: () => {
        if (state === "released") return;
        const now = performance.now();
        if (state === "entered") this.#all.release(now);
        else key.held--;
        state = "released";
        key.release(now);
        if (key.count === 0) this.#keys.delete(keyHash);
        if (run && runId !== undefined) {
          run.release(now);
          if (run.count === 0) this.#runs.delete(runId);
        }
      },
    };
  }
  #refuse(code: "rate_limited" | "overloaded", scope: Scope, why: string): ApiError {
    const waitMs = Math.round(Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, scope.waitMs())) * (1 + 0.5 * this.random()));
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    return new ApiError(code, `${why}; retry after ${seconds} s.`, undefined, { seconds, ms: waitMs });
  }
}
