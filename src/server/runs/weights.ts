import { ApiError, checkpointExpired, checkpointNotFound, runNotFound } from "../wire/api-error.js";
import { isExpired } from "./checkpoint-expiry.js";
import type { RequestContext } from "../context.js";
import { EngineError, type WeightsRef } from "../engine/types.js";
import type { CheckpointRecord, RunRecord } from "../store/run-record.js";

/** File names of a checkpoint directory (PEFT layout plus the optimizer). */
export const CHECKPOINT_FILES = {
  adapter: "adapter_model.safetensors",
  config: "adapter_config.json",
  optimizer: "optimizer.safetensors",
} as const;

/**
 * The checkpoint of `run` at `step`, unless it has expired (then its removal is queued, never
 * awaited).
 * @throws ApiError 404 `checkpoint_expired` naming when, or `checkpoint_not_found` listing the
 *   steps that exist.
 */
export function findCheckpoint(ctx: RequestContext, run: RunRecord, step: number, param = "step"): CheckpointRecord {
  const found = run.checkpoints.find((c) => c.step === step);
  if (found && !isExpired(found, ctx.services.clock())) return found;
  throw missingCheckpoint(ctx, run, step, param);
}

/** The checkpoints of `run` that have not expired, by step. */
export function liveCheckpoints(ctx: RequestContext, run: RunRecord): CheckpointRecord[] {
  const now = ctx.services.clock();
  const live = run.checkpoints.filter((c) => !isExpired(c, now));
  if (live.length < run.checkpoints.length) void ctx.services.expiry.removeSoon(run.run_id);
  return live;
}

/** The 404 for a step of `run` with no live checkpoint: `checkpoint_expired` when it expired, else `checkpoint_not_found`. */
function missingCheckpoint(ctx: RequestContext, run: RunRecord, step: number, param: string): ApiError {
  const steps = liveCheckpoints(ctx, run).map((c) => c.step);
  const listed = run.checkpoints.find((c) => c.step === step);
  const expiresAt = listed?.expires_at ?? run.expired_checkpoints?.find((e) => e.step === step)?.expires_at;
  if (expiresAt != null && Date.parse(expiresAt) <= ctx.services.clock()) return checkpointExpired(run.run_id, step, expiresAt, steps, param);
  return checkpointNotFound(run.run_id, step, steps, param);
}

/**
 * The weights to sample or embed with: the checkpoint at `step` (registered with the engine
 * under `${run_id}@${step}#${created_at}`, cached), or the run's live weights.
 *
 * @param param the field that named the step, for the 404's `param`.
 * @throws ApiError 404 `checkpoint_not_found` listing the steps that exist (also when the
 *   checkpoint is deleted while its files are read).
 */
export async function resolveWeights(
  ctx: RequestContext,
  run: RunRecord,
  step: number | undefined,
  param = "step",
): Promise<{ weights: WeightsRef; step: number }> {
  const { live, adapters, store } = ctx.services;
  if (step === undefined) {
    await live.ensure(run);
    // Loaded until the answer is complete (or the client has gone), so it is not unloaded under the call.
    const release = live.hold(run.run_id);
    if (ctx.res.closed) release();
    else ctx.res.once("close", release);
    return { weights: { runId: run.run_id }, step: run.current_step };
  }
  const checkpoint = findCheckpoint(ctx, run, step, param);
  const key = `${run.run_id}@${step}#${checkpoint.created_at}`;
  try {
    await adapters.ensure(key, run.config, async () => new Uint8Array(await store.readCheckpointFile(run.run_id, step, CHECKPOINT_FILES.adapter)));
  } catch (error) {
    throw weightsLost(ctx, { adapterKey: key }, error, (p) => (p === "step" ? param : p));
  }
  return { weights: { adapterKey: key }, step };
}

/**
 * What to answer when the weights a request was using went away under it: a concurrent
 * deleteRun or deleteCheckpoint, a checkpoint saved again at its step, an adapter evicted from
 * the cache, or the run reloaded after a failed step. The engine then says "not loaded" (or the
 * checkpoint's file is gone). That is 404 when the run or checkpoint no longer exists, and 409
 * `conflict_retryable` when it does (a retry finds it). Any other error is returned unchanged.
 *
 * @param renameParam the field names of the caller's API (`model` for completions).
 */
export function weightsLost(ctx: RequestContext, weights: WeightsRef, error: unknown, renameParam: (param: string) => string = (p) => p): unknown {
  const vanished =
    (error instanceof EngineError && (error.code === "run_not_found" || error.code === "adapter_not_found")) ||
    (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
  if (!vanished) return error;
  const [runId = "", rest = ""] = "runId" in weights ? [weights.runId] : weights.adapterKey.split("@");
  const step = "runId" in weights ? undefined : Number(rest.split("#")[0]);
  const run = ctx.services.store.get(runId);
  if (!run || run.owner !== ctx.keyHash) return runNotFound(runId, renameParam("run_id"));
  if (step !== undefined && !liveCheckpoints(ctx, run).some((c) => c.step === step)) return missingCheckpoint(ctx, run, step, renameParam("step"));
  return new ApiError("conflict_retryable", "The weights changed while this request was using them (a checkpoint saved again or the run reloaded); retry it.");
}
