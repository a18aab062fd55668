import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import { type Handler, json } from "../context.js";
import type { SampleParams } from "../engine/types.js";
import { newChatCompletionId } from "../store/ids.js";
import { ownedRun } from "../runs/run-access.js";
import { resolveWeights } from "../runs/weights.js";
import { parseModel, usage } from "./completions.js";
import { chatStopIds, renderConversation } from "./conversations.js";
import { type SampleAnswer, runSample, streamSample } from "./inference.js";
import { nonFiniteWeights } from "./finite-results.js";
import { checkSampleSize } from "./sample-size.js";
import { chatTokenLogprob, checkTopLogprobs, stopTokenIds } from "./token-options.js";

type Schemas = components["schemas"];

/** The largest `max_tokens` the spec allows: the default is the rest of the context up to it. */
const MAX_TOKENS_CAP = 1024;

/**
 * createChatCompletion: the OpenAI chat completions API over a run. The messages are rendered
 * with the model's chat template and a generation prompt (as `sample` with `messages`), and
 * generation stops at the template's end-of-turn ids, which the answer never includes. Streamed,
 * each choice's first chunk carries `role: "assistant"`.
 * @throws ApiError 400 `invalid_model`; `invalid_conversation` / `chat_template_error` naming the
 *   field (`messages[2].role`); `context_length_exceeded` naming `messages`; 404 for another key's
 *   run or a missing step.
 */
export const createChatCompletion: Handler<"createChatCompletion"> = async (ctx) => {
  const body = ctx.body;
  const { runId, step } = parseModel(body.model);
  const run = ownedRun(ctx, runId, "model");
  const model = run.config.base_model;
  const codec = ctx.services.engine.codec(model);
  const prompt = renderConversation(codec, model, body.messages, "messages", { addGenerationPrompt: true, kwargs: body.chat_template_kwargs });
  if (typeof body.max_tokens === "number" && typeof body.max_completion_tokens === "number") {
    throw new ApiError("invalid_request", "Give at most one of max_tokens and max_completion_tokens.", "max_completion_tokens");
  }
  const context = ctx.services.models.find((m) => m.id === model)?.context_length ?? MAX_TOKENS_CAP;
  const maxTokens = body.max_tokens ?? body.max_completion_tokens ?? Math.max(1, Math.min(MAX_TOKENS_CAP, context - prompt.tokens.length));
  const n = body.n ?? 1;
  checkSampleSize(1, n, maxTokens, ctx.services.limits.maxSampleTokens);
  const { weights, step: resolvedStep } = await resolveWeights(ctx, run, step, "model");
  const withLogprobs = body.logprobs === true;
  checkTopLogprobs(body.top_logprobs, withLogprobs, "logprobs is not true");
  const stopIds = stopTokenIds(body.stop_token_ids, codec, chatStopIds(codec));
  const params: SampleParams = {
    max_tokens: maxTokens,
    temperature: body.temperature ?? 1,
    top_p: body.top_p ?? 1,
    top_k: body.top_k ?? 0,
    stop: body.stop === undefined || body.stop === null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop,
    n,
    logprobs: withLogprobs,
    top_logprobs: body.top_logprobs ?? 0,
    stop_token_ids: stopIds,
  };
  if (typeof body.seed === "number") params.seed = body.seed;
  const renameParam = (param: string) => (param === "run_id" || param === "step" ? "model" : param.replace(/^prompts\[0\]/, "messages"));
  const head = { id: newChatCompletionId(), created: Math.floor(Date.now() / 1000), model: body.model };

  const answer: SampleAnswer = { nonFinite: () => nonFiniteWeights(runId, resolvedStep), renameParam };
  if (body.stream) {
    const started = new Set<number>();
    await streamSample(
      ctx,
      weights,
      [prompt.tokens],
      params,
      (event) => {
        const delta: { role?: "assistant"; content?: string } = started.has(event.index) ? {} : { role: "assistant" };
        started.add(event.index);
        if (event.delta !== "" || delta.role) delta.content = event.delta;
        const logprobs =
          withLogprobs && event.logprob !== undefined && event.token !== undefined
            ? { content: [chatTokenLogprob(codec, event.token, event.logprob, event.top_logprobs)] }
            : null;
        const chunk: Schemas["ChatCompletionChunk"] = {
          ...head,
          object: "chat.completion.chunk",
          choices: [{ index: event.index, delta, logprobs, finish_reason: event.finish_reason }],
        };
        return chunk;
      },
      {
        ...answer,
        final: (result) =>
          body.stream_options?.include_usage
            ? ({
                ...head,
                object: "chat.completion.chunk",
                choices: [],
                usage: usage(result.prompt_tokens, result.completion_tokens),
              } satisfies Schemas["ChatCompletionChunk"])
            : undefined,
      },
    );
    return { kind: "streamed" };
  }
  const result = await runSample(ctx, weights, [prompt.tokens], params, answer);
  const response: Schemas["ChatCompletion"] = {
    ...head,
    object: "chat.completion",
    choices: result.completions.map((c) => ({
      index: c.index,
      message: { role: "assistant", content: c.text },
      logprobs: withLogprobs
        ? {
            content: c.tokens.map((t, k) => chatTokenLogprob(codec, t, c.logprobs?.[k] ?? 0, c.top_logprobs?.[k])),
          }
        : null,
      finish_reason: c.finish_reason,
    })),
    usage: usage(result.prompt_tokens, result.completion_tokens),
  };
  return json(200, response, { runId });
};
