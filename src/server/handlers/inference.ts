import type { components } from "../../../generated/schema.js";
import { ApiError, internalError } from "../wire/api-error.js";
import { type Handler, type RequestContext, json } from "../context.js";
import { EngineError, type Prompt, SampleFlow, type SampleParams, type SampleResult, type TokenEvent, type WeightsRef } from "../engine/types.js";
import { toApiError } from "../runs/engine-errors.js";
import { ownedRun } from "../runs/run-access.js";
import { allFinite, nonFiniteWeights } from "./finite-results.js";
import { checkSampleSize } from "./sample-size.js";
import { checkTopLogprobs, stopTokenIds as withStopTokenIds } from "./token-options.js";
import { EventStream } from "../wire/event-stream.js";
import { resolveWeights, weightsLost } from "../runs/weights.js";
import { chatStopIds, renderConversation } from "./conversations.js";

type Schemas = components["schemas"];

/**
 * The request's prompts: `prompts` (text), `prompt_tokens` (ids) or `messages` (conversations,
 * rendered with the model's chat template and a generation prompt), exactly one of them; how to
 * name a prompt in errors; and, for conversations, the template's end-of-turn ids to stop on.
 * @throws ApiError 400 `invalid_request` naming `prompts` when several or none are given; a bad
 *   conversation naming its field (`messages[0][2].role`).
 */
function promptsOf(
  ctx: RequestContext<"sample">,
  model: string,
): { prompts: Prompt[]; renameParam: ((param: string) => string) | undefined; stopTokenIds: number[] } {
  const body = ctx.body;
  const given = [body.prompts, body.prompt_tokens, body.messages].filter((p) => p !== undefined).length;
  if (given !== 1) {
    throw new ApiError("invalid_request", "Give exactly one of prompts (text), prompt_tokens (token ids) and messages (conversations).", "prompts");
  }
  if (body.prompts !== undefined) return { prompts: body.prompts, renameParam: undefined, stopTokenIds: [] };
  if (body.prompt_tokens !== undefined) return { prompts: body.prompt_tokens, renameParam: (p) => p.replace(/^prompts/, "prompt_tokens"), stopTokenIds: [] };
  const codec = ctx.services.engine.codec(model);
  const prompts = body.messages!.map(
    (messages, i) => renderConversation(codec, model, messages, `messages[${i}]`, { addGenerationPrompt: true, kwargs: body.chat_template_kwargs }).tokens,
  );
  return { prompts, renameParam: (p) => p.replace(/^prompts/, "messages"), stopTokenIds: chatStopIds(codec) };
}

/**
 * sample: completions from the live weights or a checkpoint, of text prompts, token prompts or
 * conversations. With `stream: true` the answer is `text/event-stream`, one `SampleChunk` per
 * piece of text, then `[DONE]`.
 * @throws ApiError 400 `context_length_exceeded` naming `prompts[i]`; 404 for an unknown step.
 */
export const sample: Handler<"sample"> = async (ctx) => {
  const body = ctx.body;
  const run = ownedRun(ctx, ctx.path.run_id);
  if (body.stream && body.prompt_logprobs) {
    // A stream's chunks have no place for them: refused rather than silently dropped.
    throw new ApiError(
      "invalid_request",
      "prompt_logprobs is not available with stream: true (a SampleChunk has no field for it); ask for it without streaming.",
      "prompt_logprobs",
    );
  }
  const { prompts, renameParam, stopTokenIds: templateStops } = promptsOf(ctx, run.config.base_model);
  const stopTokenIds = withStopTokenIds(body.stop_token_ids, ctx.services.engine.codec(run.config.base_model), templateStops);
  checkTopLogprobs(body.top_logprobs, body.logprobs || body.prompt_logprobs, "neither logprobs nor prompt_logprobs is true");
  checkSampleSize(prompts.length, body.n, body.max_tokens, ctx.services.limits.maxSampleTokens);
  const { weights, step } = await resolveWeights(ctx, run, body.step);
  const params: SampleParams = {
    max_tokens: body.max_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    top_k: body.top_k,
    stop: body.stop ?? [],
    n: body.n,
    logprobs: body.logprobs,
    prompt_logprobs: body.prompt_logprobs,
    top_logprobs: body.top_logprobs,
  };
  if (body.seed !== undefined) params.seed = body.seed;
  if (stopTokenIds.length > 0) params.stop_token_ids = stopTokenIds;
  const answer: SampleAnswer = { nonFinite: () => nonFiniteWeights(run.run_id, step), renameParam };
  if (body.stream) {
    await streamSample(
      ctx,
      weights,
      prompts,
      params,
      (event) => {
        const chunk: Schemas["SampleChunk"] = { index: event.index, prompt_index: event.prompt_index, delta: event.delta, finish_reason: event.finish_reason };
        if (event.token !== undefined) chunk.token = event.token;
        if (event.logprob !== undefined) chunk.logprob = event.logprob;
        if (event.top_logprobs !== undefined) chunk.top_logprobs = event.top_logprobs;
        return chunk;
      },
      answer,
    );
    return { kind: "streamed" };
  }
  const result = await runSample(ctx, weights, prompts, params, answer);
  const samples: Schemas["Sample"][] = result.completions.map((c) => {
    const out: Schemas["Sample"] = { index: c.index, prompt_index: c.prompt_index, text: c.text, finish_reason: c.finish_reason };
    if (body.logprobs) {
      out.tokens = c.tokens;
      out.logprobs = c.logprobs ?? [];
      if (body.top_logprobs > 0) out.top_logprobs = c.top_logprobs ?? [];
    }
    if (body.prompt_logprobs) {
      out.prompt_tokens = c.prompt_tokens ?? [];
      out.prompt_logprobs = c.prompt_logprobs ?? [];
      if (body.top_logprobs > 0) out.prompt_top_logprobs = c.prompt_top_logprobs ?? [];
    }
    return out;
  });
  const response: Schemas["SampleResult"] = {
    object: "sample",
    run_id: run.run_id,
    step,
    samples,
    usage: { prompt_tokens: result.prompt_tokens, completion_tokens: result.completion_tokens },
  };
  return json(200, response, { runId: run.run_id });
};

/** createEmbeddings: one mean-pooled vector per input. */
export const createEmbeddings: Handler<"createEmbeddings"> = async (ctx) => {
  const body = ctx.body;
  const run = ownedRun(ctx, ctx.path.run_id);
  const { weights, step } = await resolveWeights(ctx, run, body.step);
  let vectors: number[][];
  try {
    vectors = await ctx.services.engine.embeddings(weights, body.inputs);
  } catch (error) {
    throw toApiError(weightsLost(ctx, weights, error));
  }
  if (!vectors.every((v) => allFinite(v))) throw nonFiniteWeights(run.run_id, step);
  const response: Schemas["EmbeddingsResponse"] = {
    object: "list",
    run_id: run.run_id,
    step,
    dimensions: vectors[0]?.length ?? 1,
    data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })),
  };
  return json(200, response, { runId: run.run_id });
};

/** How a sampling call answers for its run: the error for weights that give no finite number, and the API's names of the engine's fields. */
export interface SampleAnswer {
  /** The 409 `nonFiniteWeights(runId, step)` a logprob that is not finite is answered with. */
  nonFinite: () => ApiError;
  /** Rewrites the engine's field path for an API whose fields differ (`prompts[i]` → `prompt[i]`). */
  renameParam?: ((param: string) => string) | undefined;
}

/**
 * Non-streamed sampling with engine errors mapped to their 4xx, and a result whose logprobs are
 * not finite refused with `answer.nonFinite()`. A client that goes away stops the work: the
 * engine is aborted between decoding steps (or before it starts, if still queued).
 */
export async function runSample(
  ctx: RequestContext,
  weights: WeightsRef,
  prompts: Prompt[],
  params: SampleParams,
  answer: SampleAnswer,
): Promise<SampleResult> {
  let result: SampleResult;
  try {
    result = await ctx.services.engine.sample(weights, prompts, params, { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) throw clientGone();
    throw toApiError(weightsLost(ctx, weights, error, answer.renameParam), answer.renameParam);
  }
  for (const c of result.completions) {
    if (!allFinite(c.logprobs ?? []) || !allFinite(c.prompt_logprobs ?? [], true)) throw answer.nonFinite();
  }
  return result;
}

/** What a call whose client has gone ends with: nobody reads it, and it is not the server's fault. */
function clientGone(): ApiError {
  return new ApiError("client_closed_request", "The client closed the connection before the answer was ready.");
}

/**
 * Streams a sampling call as server-sent events, one per token event that carries text, a
 * finish reason or (when asked for) a logprob. Generation stops when the client goes away (the engine is aborted between
 * decoding steps). An error before the first event is a plain JSON error; after it, `event: error`.
 */
export async function streamSample(
  ctx: RequestContext,
  weights: WeightsRef,
  prompts: Prompt[],
  params: SampleParams,
  toChunk: (event: TokenEvent) => unknown,
  options: SampleAnswer & { final?: (result: SampleResult) => unknown },
): Promise<void> {
  const { res, requestId } = ctx;
  const stream = new EventStream(res, requestId, ctx.sendError);
  // Weights that give no finite logprob stop the generation: the stream ends with the same 409
  // the plain answer is, never a chunk with a null where the spec says number.
  const poisoned = new AbortController();
  // Backpressure: once `streamBufferBytes` wait unsent (the socket's own buffer is full),
  // generation pauses until the socket drains; a client that does not read for `streamStallMs`
  // is cut off (which aborts the call).
  const { streamBufferBytes, streamStallMs } = ctx.services.limits;
  const flow = new SampleFlow();
  let stall: NodeJS.Timeout | undefined;
  const onDrain = () => {
    clearTimeout(stall);
    flow.resume();
  };
  try {
    const result = await ctx.services.engine.sample(weights, prompts, params, {
      signal: AbortSignal.any([ctx.signal, poisoned.signal]),
      flow,
      onToken: (event) => {
        if (poisoned.signal.aborted) return;
        if ((event.logprob !== undefined && !Number.isFinite(event.logprob)) || event.top_logprobs?.some((t) => !Number.isFinite(t.logprob))) {
          poisoned.abort();
          return;
        }
        // A token whose text is held back (part of a character, or of a possible stop string)
        // still sends its chunk when it carries a logprob, so every generated token's arrives.
        if (event.delta === "" && event.finish_reason === null && event.logprob === undefined) return;
        // A write that returns false has set the socket to emit `drain` once it has sent everything.
        if (stream.data(toChunk(event)) || flow.paused || res.writableLength < streamBufferBytes) return;
        flow.pause();
        res.once("drain", onDrain);
        stall = setTimeout(() => res.destroy(), streamStallMs);
      },
    });
    if (poisoned.signal.aborted) {
      stream.fail(options.nonFinite());
      return;
    }
    const last = options.final?.(result);
    if (last !== undefined) stream.data(last);
    stream.done();
  } catch (error) {
    if (poisoned.signal.aborted && !ctx.signal.aborted) {
      stream.fail(options.nonFinite());
      return;
    }
    if (ctx.signal.aborted || (error instanceof EngineError && error.code === "aborted")) return;
    const mapped = toApiError(weightsLost(ctx, weights, error, options.renameParam), options.renameParam);
    stream.fail(mapped instanceof ApiError ? mapped : internalError());
    // The client already has its answer; rethrown only so the pipeline reports it.
    if (!(mapped instanceof ApiError)) throw error;
  } finally {
    clearTimeout(stall);
    res.off("drain", onDrain);
  }
}
