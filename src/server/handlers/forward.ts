import type { components } from "../../../generated/schema.js";
import { type Handler, json } from "../context.js";
import type { ForwardResult } from "../engine/types.js";
import { checkLoss } from "../engine/rl-loss.js";
import { toApiError } from "../runs/engine-errors.js";
import { allFinite, nonFiniteWeights } from "./finite-results.js";
import { ownedRun, readRun } from "../runs/run-access.js";
import { resolveWeights, weightsLost } from "../runs/weights.js";

type Schemas = components["schemas"];

/**
 * forward: per-token logprobs and the cross-entropy of a batch under the live weights (in the
 * run's queue, after the calls before it, so it sees their effect) or a checkpoint `step`.
 * Nothing is accumulated or persisted.
 * @throws ApiError 400 `context_length_exceeded` naming `batch[i]`, `invalid_example` as
 *   forward_backward; 404 for an unknown step; 409 `non_finite_weights` for weights that are not finite.
 */
export const forward: Handler<"forward"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const body = ctx.body;
  const { engine } = ctx.services;
  // The examples are checked as forward_backward checks a cross-entropy batch: fields it would
  // refuse (logprobs, advantages) are refused here too, before the call waits in the queue.
  try {
    checkLoss(body.batch, undefined);
  } catch (error) {
    throw toApiError(error);
  }
  let result: ForwardResult;
  let step: number;
  if (body.step === undefined) {
    [result, step] = await readRun(ctx, runId, async (run) => [await engine.forward({ runId }, body.batch), run.current_step] as const);
  } else {
    const resolved = await resolveWeights(ctx, ownedRun(ctx, runId), body.step);
    step = resolved.step;
    try {
      result = await engine.forward(resolved.weights, body.batch);
    } catch (error) {
      throw toApiError(weightsLost(ctx, resolved.weights, error));
    }
  }
  checkFinite(runId, step, result);
  const response: Schemas["ForwardResult"] = {
    object: "forward",
    run_id: runId,
    step,
    logprobs: result.logprobs,
    loss: result.loss,
    num_tokens: Math.round(result.num_tokens),
    num_examples: result.num_examples,
  };
  return json(200, response, { runId });
};

/**
 * Refuses a result that is not finite, which the spec's numbers cannot carry.
 * @throws ApiError 409 `non_finite_weights`, naming the restore that repairs the run.
 */
function checkFinite(runId: string, step: number, result: ForwardResult): void {
  if (!Number.isFinite(result.loss) || !result.logprobs.every((row) => allFinite(row, true))) throw nonFiniteWeights(runId, step);
}
