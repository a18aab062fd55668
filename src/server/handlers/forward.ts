import type { components } from "../../../generated/schema.js";
import { type Handler, json } from "../context.js";
import { encodeExample } from "../engine/encode-batch.js";
import type { ForwardResult } from "../engine/types.js";
import { engineBatch } from "./conversations.js";
import { toApiError } from "../runs/engine-errors.js";
import { ownedRun, readRun } from "../runs/run-access.js";
import { resolveWeights, weightsLost } from "../runs/weights.js";

type Schemas = components["schemas"];

/**
 * forward: per-token logprobs and the cross-entropy of a batch under the live weights (in the
 * run's queue, after the calls before it, so it sees their effect) or a checkpoint `step`.
 * Nothing is accumulated or persisted. Every example's `tokens` and `weights` are returned with
 * its logprobs (a conversation's as its chat template and assistant mask made them).
 * @throws ApiError 400 `context_length_exceeded` naming `batch[i]`, or a bad conversation naming
 *   its field; 404 for an unknown step.
 */
export const forward: Handler<"forward"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const body = ctx.body;
  const { engine } = ctx.services;
  const model = ownedRun(ctx, runId).config.base_model;
  const batch = engineBatch(ctx, model, body.batch);
  let result: ForwardResult;
  let step: number;
  if (body.step === undefined) {
    [result, step] = await readRun(ctx, runId, async (run) => [await engine.forward({ runId }, batch), run.current_step] as const);
  } else {
    const resolved = await resolveWeights(ctx, ownedRun(ctx, runId), body.step);
    step = resolved.step;
    try {
      result = await engine.forward(resolved.weights, batch);
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
    ...usedTokens(batch, engine.codec(model)),
  };
  return json(200, response, { runId });
};

/** The tokens and loss weights of each example as the engine encodes them (the engine validated them already). */
function usedTokens(batch: Parameters<typeof encodeExample>[0][], codec: Parameters<typeof encodeExample>[2]): { tokens: number[][]; weights: number[][] } {
  const encoded = batch.map((example, i) => encodeExample(example, i, codec));
  return { tokens: encoded.map((e) => e.tokens), weights: encoded.map((e) => e.weights) };
}
