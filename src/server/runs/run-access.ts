import { ApiError, runNotFound } from "../wire/api-error.js";
import type { Reply, RequestContext } from "../context.js";
import { type Turn, isRetryable, recordSequence } from "./call-sequencer.js";
import { toApiError } from "./engine-errors.js";
import type { RunRecord } from "../store/run-record.js";
import type { RunCommit } from "../store/run-store.js";
import type { RunEvent } from "./run-events.js";

/**
 * The run `runId` if the caller's key created it. Another key's run answers exactly like a
 * missing one, so run ids cannot be probed.
 * @throws ApiError 404 `run_not_found`
 */
export function ownedRun(ctx: RequestContext, runId: string, param = "run_id"): RunRecord {
  const run = ctx.services.store.get(runId);
  if (!run || run.owner !== ctx.keyHash) throw runNotFound(runId, param);
  return run;
}

/**
 * What a change to a run produces: the new header, what else to commit with it (tensors, a
 * metric row, a checkpoint), and the answer.
 */
export interface RunChange extends Omit<RunCommit, "idempotency"> {
  /** The new header (a modified copy of the current one). */
  record: RunRecord;
  status: number;
  body: unknown;
  /**
   * The change is committed and the call is then answered with this error: a call refused for
   * what it found, whose refusal changes the run (optim_step discarding a non-finite gradient).
   */
  refuse?: ApiError;
  /** Published to the run's watchers once the change is committed. */
  event?: RunEvent;
}

/**
 * Applies a change to a run: queued behind earlier changes of the same run, loaded into the
 * engine if needed, and persisted (with the request's idempotency record, in one transaction)
 * before it is acknowledged. If the engine fails unexpectedly or the write fails, the engine's
 * copy is discarded, so it is reloaded from the last durable state and a retry cannot apply the
 * work twice.
 *
 * @throws ApiError 404 when the run is gone by the time its turn comes; the engine's 4xx errors.
 */
export function changeRun(ctx: RequestContext, runId: string, work: (run: RunRecord) => Promise<RunChange>): Promise<Reply> {
  const { queue, live, store } = ctx.services;
  return inTurn(ctx, runId, (turn) =>
    queue.run(runId, async () => {
      const run = ownedRun(ctx, runId);
      await live.ensure(run);
      let change: RunChange;
      try {
        change = await work(run);
        const { record, status, body, refuse, event: _event, ...commit } = change;
        if (ctx.idempotency && status < 300) {
          const { scope, request_hash } = ctx.idempotency;
          (commit as RunCommit).idempotency = { scope, record: { request_hash, status, body, created_at: Date.now() } };
        }
        if (turn.sequence && status < 300) recordSequence(record, turn.sequence);
        await store.commit(record, commit);
        if (refuse) throw refuse;
      } catch (error) {
        const mapped = toApiError(error);
        if (mapped === error && !(error instanceof ApiError)) await live.discard(runId);
        throw mapped;
      }
      if (change.event && change.status < 300) ctx.services.events.publish(change.event);
      return { kind: "json", status: change.status, body: change.body, recordedInRun: runId };
    }),
  );
}

/**
 * Reads a run's live state in its queue, after the calls before it, without changing it (the
 * `forward` operation): ordered like a change. Only a pipelined call's position is persisted
 * (the header alone, `updated_at` kept), so after a restart the call after it is not held
 * waiting for a position that was already answered.
 * @throws ApiError 404 when the run is gone by the time its turn comes; the engine's 4xx errors.
 */
export function readRun<T>(ctx: RequestContext, runId: string, work: (run: RunRecord) => Promise<T>): Promise<T> {
  const { queue, live, store } = ctx.services;
  return inTurn(ctx, runId, (turn) =>
    queue.run(runId, async () => {
      const run = ownedRun(ctx, runId);
      await live.ensure(run);
      let result: T;
      try {
        result = await work(run);
      } catch (error) {
        throw toApiError(error);
      }
      if (turn.sequence) {
        const record = structuredClone(run);
        recordSequence(record, turn.sequence);
        await store.commit(record);
      }
      return result;
    }),
  );
}

/**
 * Runs `work` in the call's turn among its client's pipelined calls (`Signal-Sequence`; no
 * header, no waiting), and settles the turn with the outcome so the next call can go.
 */
async function inTurn<T>(ctx: RequestContext, runId: string, work: (turn: Turn) => Promise<T>): Promise<T> {
  const turn = await ctx.services.sequencer.turn(ownedRun(ctx, runId), ctx.req.headers["signal-sequence"], ctx.req, ctx.signal);
  try {
    ctx.enterQueue();
    const result = await work(turn);
    turn.settle("applied");
    return result;
  } catch (error) {
    turn.settle(isRetryable(error) ? "retryable" : "failed");
    throw error;
  }
}

/** A copy of a run's header to modify, with `updated_at` set to now. */
export function nextRecord(run: RunRecord): RunRecord {
  const copy = structuredClone(run);
  copy.updated_at = new Date().toISOString();
  return copy;
}
