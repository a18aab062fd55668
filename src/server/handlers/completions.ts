import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import { type Handler, json } from "../context.js";
import type { SampleParams } from "../engine/types.js";
import { newCompletionId } from "../store/ids.js";
import { checkSampleSize } from "./sample-size.js";
import { ownedRun } from "../runs/run-access.js";
import { resolveWeights } from "../runs/weights.js";
import { nonFiniteWeights } from "./finite-results.js";
import { type SampleAnswer, runSample, streamSample } from "./inference.js";
import { completionLogprobs, stopTokenIds } from "./token-options.js";

type Schemas = components["schemas"];

/**
 * createCompletion: the OpenAI completions API over a run, so an OpenAI client can sample a
 * fine-tune. `model` is `run_id` (live weights) or `run_id@step` (a checkpoint). The same
 * parameters give the same text as `sample` (only the `max_tokens` default differs: 16 here).
 * @throws ApiError 400 `invalid_model` for a malformed `model`; 404 for another key's run or a missing step.
 */
export const createCompletion: Handler<"createCompletion"> = async (ctx) => {
  const body = ctx.body;
  const { runId, step: requested } = parseModel(body.model);
  const run = ownedRun(ctx, runId, "model");
  const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
  checkSampleSize(prompts.length, body.n, body.max_tokens, ctx.services.limits.maxSampleTokens);
  const { weights, step } = await resolveWeights(ctx, run, requested, "model");
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  const withLogprobs = body.logprobs !== undefined && body.logprobs !== null;
  const codec = ctx.services.engine.codec(run.config.base_model);
  const stopIds = stopTokenIds(body.stop_token_ids, codec);
  const params: SampleParams = {
    max_tokens: body.max_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    top_k: body.top_k ?? 0,
    stop,
    n: body.n,
    logprobs: withLogprobs,
    top_logprobs: body.logprobs ?? 0,
  };
  if (body.seed !== undefined) params.seed = body.seed;
  if (stopIds.length > 0) params.stop_token_ids = stopIds;
  const renameParam = (param: string) =>
    param === "run_id" || param === "step"
      ? "model"
      : typeof body.prompt === "string"
        ? param.replace(/^prompts\[0\]/, "prompt")
        : param.replace(/^prompts/, "prompt");
  const id = newCompletionId();
  const created = Math.floor(Date.now() / 1000);
  const head = { id, object: "text_completion" as const, created, model: body.model };

  const answer: SampleAnswer = { nonFinite: () => nonFiniteWeights(runId, step), renameParam };
  if (body.stream) {
    await streamSample(
      ctx,
      weights,
      prompts,
      params,
      (event) => {
        const choice: Schemas["CompletionChoice"] = {
          index: event.index,
          text: event.delta,
          logprobs:
            withLogprobs && event.logprob !== undefined && event.token !== undefined
              ? completionLogprobs(codec, [event.token], [event.logprob], event.top_logprobs && [event.top_logprobs], [event.text_offset ?? 0])
              : null,
          finish_reason: event.finish_reason,
        };
        return { ...head, choices: [choice] } satisfies Schemas["CompletionResponse"];
      },
      {
        ...answer,
        final: (result) =>
          body.stream_options?.include_usage
            ? ({ ...head, choices: [], usage: usage(result.prompt_tokens, result.completion_tokens) } satisfies Schemas["CompletionResponse"])
            : undefined,
      },
    );
    return { kind: "streamed" };
  }
  const result = await runSample(ctx, weights, prompts, params, answer);
  const response: Schemas["CompletionResponse"] = {
    ...head,
    choices: result.completions.map((c) => ({
      index: c.index,
      text: c.text,
      logprobs: withLogprobs ? completionLogprobs(codec, c.tokens, c.logprobs ?? [], c.top_logprobs, c.text_offsets ?? []) : null,
      finish_reason: c.finish_reason,
    })),
    usage: usage(result.prompt_tokens, result.completion_tokens),
  };
  return json(200, response, { runId });
};

/**
 * The run and step an OpenAI `model` names: `run_id` (live weights) or `run_id@step`.
 * @throws ApiError 400 `invalid_model` naming `model`.
 */
export function parseModel(model: string): { runId: string; step: number | undefined } {
  const match = /^(run_[a-z0-9]{8,40})(?:@(\d{1,10}))?$/.exec(model);
  if (!match) throw new ApiError("invalid_model", `model '${model}' is not 'run_id' or 'run_id@step'.`, "model");
  return { runId: match[1]!, step: match[2] === undefined ? undefined : Number(match[2]) };
}

/** OpenAI usage counts. */
export function usage(prompt: number, completion: number): NonNullable<Schemas["CompletionResponse"]["usage"]> {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
