import type { RequestContext } from "./context.js";
import type { WeightsRef } from "./engine/types.js";
import { CHECKPOINT_FILES, findCheckpoint } from "./handlers/checkpoints.js";
import type { RunRecord } from "./run-record.js";

/**
 * The weights to sample or embed with: the checkpoint at `step` (registered with the engine
 * under `${run_id}@${step}#${created_at}`, cached), or the run's live weights.
 *
 * @param param the field that named the step, for the 404's `param`.
 * @throws ApiError 404 `checkpoint_not_found` listing the steps that exist.
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
    return { weights: { runId: run.run_id }, step: run.current_step };
  }
  const checkpoint = findCheckpoint(run, step, param);
  const key = `${run.run_id}@${step}#${checkpoint.created_at}`;
  await adapters.ensure(key, run.config, async () => new Uint8Array(await store.readCheckpointFile(run.run_id, step, CHECKPOINT_FILES.adapter)));
  return { weights: { adapterKey: key }, step };
}
