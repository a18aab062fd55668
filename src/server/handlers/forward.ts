import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import { type Handler, json } from "../context.js";
import { encodeExample } from "../engine/encode-batch.js";
import type { ForwardResult } from "../engine/types.js";
import { checkLoss } from "../engine/rl-loss.js";
import { engineBatch } from "./conversations.js";
import { toApiError } from "../runs/engine-errors.js";
import { allFinite, nonFiniteWeights } from "./finite-results.js";
import { ownedRun, readRun } from "../runs/run-access.js";
import { resolveWeights, weightsLost } from "../runs/weights.js";

type Schemas = components["schemas"];

/**
 * forward: per-token logprobs and the cross-entropy of a batch under the live weights (in the
 * run's queue, after the calls before it, so it sees their effect) or a checkpoint `step`.
 * Nothing is accumulated; with `record_eval` the loss and token accuracy are stored as the
 * current step's `eval_loss` and `eval_token_accuracy` (in the same turn, so they describe that step).
 * Every example's `tokens` and `weights` are returned with its logprobs (a conversation's as its
 * chat template and assistant mask made them).
 * @throws ApiError 400 `context_length_exceeded` naming `batch[i]`, `invalid_example` as
 *   forward_backward, or a bad conversation naming its field; 404 for an unknown step; 409
 *   `non_finite_weights` for weights that are not finite; 400 `eval_not_recordable` naming
 *   `record_eval` with a `step` or before the first optimizer step.
 */
export const forward: Handler<"forward"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const body = ctx.body;
  const { engine } = ctx.services;
  const model = ownedRun(ctx, runId).config.base_model;
  const batch = engineBatch(ctx, model, body.batch);
  // The examples are checked as forward_backward checks a cross-entropy batch: fields it would
  // refuse (logprobs, advantages) are refused here too, before the call waits in the queue.
  try {
    checkLoss(batch, undefined);
  } catch (error) {
    throw toApiError(error);
  }
  let result: ForwardResult;
  let step: number;
  if (body.record_eval === true && body.step !== undefined) {
    throw evalRefused("record_eval: an evaluation is recorded for the live weights only; omit step");
  }
  if (body.step === undefined) {
    [result, step] = await readRun(ctx, runId, async (run) => {
      if (body.record_eval === true && run.current_step === 0) {
        throw evalRefused("record_eval: the run has no optimizer step yet, so there is no metric row to record it on");
      }
      const out = await engine.forward({ runId }, batch);
      if (body.record_eval === true) ctx.services.store.recordEval(runId, run.current_step, out.loss, out.token_accuracy);
      return [out, run.current_step] as const;
    });
  } else {
    const resolved = await resolveWeights(ctx, ownedRun(ctx, runId), body.step);
    step = resolved.step;
    try {
      result = await engine.forward(resolved.weights, batch);
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
    token_accuracy: result.token_accuracy,
    num_tokens: Math.round(result.num_tokens),
    num_examples: result.num_examples,
    ...usedTokens(batch, engine.codec(model)),
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

/** The tokens and loss weights of each example as the engine encodes them (the engine validated them already). */
function usedTokens(batch: Parameters<typeof encodeExample>[0][], codec: Parameters<typeof encodeExample>[2]): { tokens: number[][]; weights: number[][] } {
  const encoded = batch.map((example, i) => encodeExample(example, i, codec));
  return { tokens: encoded.map((e) => e.tokens), weights: encoded.map((e) => e.weights) };
}

/** A valid request whose evaluation has nowhere to be recorded. */
function evalRefused(message: string): ApiError {
  return new ApiError("eval_not_recordable", message, "record_eval");
}
