import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import { stepCursor } from "../store/page-by-step.js";
import { type Handler, type RequestContext, json } from "../context.js";
import { checkLoss, checkLossConfig } from "../engine/rl-loss.js";
import { EngineError, type Example, type LossSpec, type OptimStepOptions } from "../engine/types.js";
import { toApiError } from "../runs/engine-errors.js";
import { type RunChange, changeRun, nextRecord, ownedRun } from "../runs/run-access.js";
import { engineBatch } from "./conversations.js";
import type { RunRecord } from "../store/run-record.js";

type Schemas = components["schemas"];

/**
 * forwardBackward: the batch's loss and gradient, added to the run's accumulator; the
 * accumulator and the running loss are persisted with the call's idempotency record.
 * Conversation examples are rendered with the model's chat template first (`engineBatch`).
 * @throws ApiError 400 `context_length_exceeded` naming `batch[i]`; 400 `invalid_conversation`
 *   or `chat_template_error` naming the field (`batch[0].messages[2].role`).
 */
export const forwardBackward: Handler<"forwardBackward"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const batch = engineBatch(ctx, ownedRun(ctx, runId).config.base_model, ctx.body.batch);
  const loss = lossSpec(ctx.body, batch);
  return changeRun(ctx, runId, async (run) => {
    const { engine } = ctx.services;
    const result = await checkResult(ctx, runId, await engine.forwardBackward(runId, batch, loss));
    const state = await engine.exportState(runId);
    const record = nextRecord(run);
    record.pending = accumulate(run.pending, result);
    const body: Schemas["ForwardBackwardResult"] = { ...result, step: run.current_step, accumulated_calls: record.pending.calls };
    return { record, state, status: 200, body };
  });
};

/**
 * optimStep: one AdamW update with the mean accumulated gradient; the new weights, optimizer
 * state and metric are durable before the answer.
 * @throws ApiError 409 `nothing_accumulated`; 409 `non_finite_gradient` (nothing applied, the
 *   accumulation discarded) when the mean gradient is not finite.
 */
export const optimStep: Handler<"optimStep"> = (ctx) => {
  const runId = ctx.path.run_id;
  const options = stepOptions(ctx.body);
  return changeRun(ctx, runId, async (run) => {
    const { engine } = ctx.services;
    let result: Awaited<ReturnType<typeof engine.optimStep>>;
    try {
      result = await engine.optimStep(runId, options);
    } catch (error) {
      return discarded(ctx, run, error);
    }
    const state = await engine.exportState(runId);
    const record = nextRecord(run);
    const metric = applyStep(record, run.pending, result);
    const body: Schemas["OptimStepResult"] = { step: result.step, learning_rate: result.learning_rate, grad_norm: result.grad_norm };
    return { record, state, metric, status: 200, body, event: stepApplied(runId, metric) };
  });
};

/**
 * trainStep: forward_backward and optim_step as one change, with earlier accumulated gradients included.
 * @throws ApiError 409 `non_finite_gradient` as optimStep; 400 as forwardBackward.
 */
export const trainStep: Handler<"trainStep"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const batch = engineBatch(ctx, ownedRun(ctx, runId).config.base_model, ctx.body.batch);
  const options = stepOptions(ctx.body);
  const loss = lossSpec(ctx.body, batch);
  return changeRun(ctx, runId, async (run) => {
    const { engine } = ctx.services;
    let stepped: Awaited<ReturnType<typeof engine.trainStep>>;
    try {
      stepped = await engine.trainStep(runId, batch, options, loss);
    } catch (error) {
      return discarded(ctx, run, error);
    }
    const result = await checkResult(ctx, runId, stepped);
    const state = await engine.exportState(runId);
    const record = nextRecord(run);
    const pending = accumulate(run.pending, result);
    const metric = applyStep(record, pending, result);
    const body: Schemas["TrainStepResult"] = {
      step: result.step,
      loss: result.loss,
      grad_norm: result.grad_norm,
      learning_rate: result.learning_rate,
      num_tokens: result.num_tokens,
      num_examples: result.num_examples,
      ...(result.token_accuracy !== undefined ? { token_accuracy: result.token_accuracy } : {}),
    };
    return { record, state, metric, status: 200, body, event: stepApplied(runId, metric) };
  });
};

/** zeroGrad: discards the accumulator; weights and step are unchanged. */
export const zeroGrad: Handler<"zeroGrad"> = (ctx) => {
  const runId = ctx.path.run_id;
  return changeRun(ctx, runId, async (run) => {
    const { engine } = ctx.services;
    await engine.zeroGrad(runId);
    const state = await engine.exportState(runId);
    const record = nextRecord(run);
    record.pending = { calls: 0, loss_sum: 0, num_tokens: 0 };
    const body: Schemas["ZeroGradResult"] = { step: run.current_step, discarded_calls: run.pending.calls };
    return { record, state, status: 200, body };
  });
};

/** listMetrics: one entry per applied step, oldest first, read from the store a page at a time; the cursor is the last step. */
export const listMetrics: Handler<"listMetrics"> = async (ctx) => {
  const run = ownedRun(ctx, ctx.path.run_id);
  const { limit, after } = ctx.query;
  const afterStep = stepCursor(after, "listMetrics");
  const rows = ctx.services.store.metrics(run.run_id, afterStep ?? -1, limit + 1);
  const data = rows.slice(0, limit);
  const hasMore = rows.length > limit;
  const body: Schemas["MetricList"] = { object: "list", data, has_more: hasMore, next_cursor: hasMore ? String(data[data.length - 1]!.step) : null };
  return json(200, body);
};

/**
 * When the engine refused to apply a step for a non-finite accumulated gradient, it applied
 * nothing and dropped the accumulation: that is committed (the run keeps its weights and step,
 * with nothing accumulated), then the call is answered 409 `non_finite_gradient` naming the step.
 * Any other error is rethrown.
 */
async function discarded(ctx: RequestContext, run: RunRecord, error: unknown): Promise<RunChange> {
  if (!(error instanceof EngineError && error.code === "non_finite_gradient")) throw error;
  const state = await ctx.services.engine.exportState(run.run_id);
  const record = nextRecord(run);
  record.pending = { calls: 0, loss_sum: 0, num_tokens: 0 };
  return { record, state, status: 409, body: null, refuse: toApiError(error) as ApiError };
}

/**
 * A training result as the spec has it. The engine normalises token weights by their sum, so
 * weights whose sum overflows (or a float32 that does) give a NaN or infinite loss and gradient
 * that would poison the run's weights for good: such a call is refused, and the engine's copy of
 * the run, which already holds the bad gradient (or step), is dropped so the next call reloads
 * the last durable state. `num_tokens` is the weighted token count, which fractional weights make
 * fractional; the spec's field is an integer, so it is rounded.
 * @throws ApiError 400 `invalid_example`
 */
async function checkResult<R extends { loss: number; grad_norm: number; num_tokens: number }>(ctx: RequestContext, runId: string, result: R): Promise<R> {
  if (Number.isFinite(result.loss) && Number.isFinite(result.grad_norm)) return { ...result, num_tokens: Math.round(result.num_tokens) };
  await ctx.services.live.discard(runId);
  throw new ApiError(
    "invalid_example",
    "The loss or gradient is not finite: the batch's token weights overflow, or for an RL loss a ratio exp(p - logprobs[i]) does (sampler logprobs far below the current ones). Use weights of ordinary size (e.g. 0 to 1) and the sampler's own logprobs. Nothing was accumulated. If every batch fails so, the run's weights are themselves not finite (a step an older server applied from an overflowing gradient): restore a checkpoint saved before it (POST /v1/runs/{run_id}/restore).",
    "batch",
  );
}

/**
 * The call's loss (`loss_fn`, `loss_fn_config`), checked against the batch before any work.
 * @throws ApiError 400 `invalid_example` naming the field (`batch[i].logprobs`, `loss_fn_config`, ...).
 */
function lossSpec(body: RequestContext<"forwardBackward" | "trainStep">["body"], batch: Example[]): LossSpec {
  const config = body.loss_fn_config;
  const loss: LossSpec = { loss_fn: body.loss_fn ?? "cross_entropy" };
  if (config?.clip_low_threshold !== undefined) loss.clip_low_threshold = config.clip_low_threshold;
  if (config?.clip_high_threshold !== undefined) loss.clip_high_threshold = config.clip_high_threshold;
  try {
    checkLossConfig(loss.loss_fn, config !== undefined);
    checkLoss(batch, loss);
  } catch (error) {
    throw toApiError(error);
  }
  return loss;
}

function stepOptions(body: RequestContext<"optimStep" | "trainStep">["body"]): OptimStepOptions {
  const options: OptimStepOptions = {};
  if (typeof body.learning_rate === "number") options.learning_rate = body.learning_rate;
  if (typeof body.max_grad_norm === "number") options.max_grad_norm = body.max_grad_norm;
  for (const key of ["beta1", "beta2", "eps", "weight_decay"] as const) {
    const value = body[key];
    if (typeof value === "number") options[key] = value;
  }
  return options;
}

/** Records an applied step: new step, cleared accumulator; returns the metric row for the calls it applied. */
function applyStep(record: RunRecord, pending: RunRecord["pending"], result: { step: number; learning_rate: number; grad_norm: number }): Schemas["Metric"] {
  if (pending.calls === 0) {
    // The engine applied a step the header has no calls for: the two disagree, so fail (which
    // reloads the engine from disk) rather than persist a metric of nothing.
    throw new Error(`run ${record.run_id}: engine stepped with no accumulated calls on record`);
  }
  record.current_step = result.step;
  record.pending = { calls: 0, loss_sum: 0, num_tokens: 0 };
  const accuracyCalls = pending.accuracy_calls ?? 0;
  return {
    step: result.step,
    loss: pending.loss_sum / pending.calls,
    grad_norm: result.grad_norm,
    learning_rate: result.learning_rate,
    num_tokens: pending.num_tokens,
    ...(accuracyCalls > 0 ? { token_accuracy: (pending.accuracy_sum ?? 0) / accuracyCalls } : {}),
    created_at: record.updated_at,
  };
}

/** The accumulator after one more training call. */
function accumulate(pending: RunRecord["pending"], result: { loss: number; num_tokens: number; token_accuracy?: number }): RunRecord["pending"] {
  const next: RunRecord["pending"] = {
    calls: pending.calls + 1,
    loss_sum: pending.loss_sum + result.loss,
    num_tokens: pending.num_tokens + result.num_tokens,
  };
  const accuracyCalls = (pending.accuracy_calls ?? 0) + (result.token_accuracy !== undefined ? 1 : 0);
  if (accuracyCalls > 0) {
    next.accuracy_calls = accuracyCalls;
    next.accuracy_sum = (pending.accuracy_sum ?? 0) + (result.token_accuracy ?? 0);
  }
  return next;
}

/** The `step.applied` event of a step's metric row. */
function stepApplied(runId: string, metric: Schemas["Metric"]): Schemas["RunEvent"] {
  return { type: "step.applied", run_id: runId, step: metric.step, metric };
}
