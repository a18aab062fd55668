import type { components } from "../../../generated/schema.js";
import { type Handler, json } from "../context.js";
import type { ForwardResult } from "../engine/types.js";
import { toApiError } from "../runs/engine-errors.js";
import { ownedRun, readRun } from "../runs/run-access.js";
import { resolveWeights, weightsLost } from "../runs/weights.js";

type Schemas = components["schemas"];

/**
 * forward: per-token logprobs and the cross-entropy of a batch under the live weights (in the
 * run's queue, after the calls before it, so it sees their effect) or a checkpoint `step`.
 * Nothing is accumulated or persisted.
 * @throws ApiError 400 `context_length_exceeded` naming `batch[i]`; 404 for an unknown step.
 */
export const forward: Handler<"forward"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const body = ctx.body;
  const { engine } = ctx.services;
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
