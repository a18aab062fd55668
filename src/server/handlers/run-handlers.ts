import { ApiError, validationError } from "../wire/api-error.js";
import { type Handler, json } from "../context.js";
import type { RunConfig } from "../engine/types.js";
import { toApiError } from "../runs/engine-errors.js";
import { newRunId } from "../store/ids.js";
import { ownedRun } from "../runs/run-access.js";
import { type RunRecord, toRun } from "../store/run-record.js";
import { readCheckpointSource, stateFrom } from "./run-from-checkpoint.js";

/**
 * createRun: the engine makes the adapter (A from the seed, B zero) and optimizer state; the run
 * is durable, with the request's idempotency record, in one transaction before it is answered.
 * With `from_checkpoint` it starts from that checkpoint instead, at its step (see `CheckpointRef`).
 * @throws ApiError 404 `model_not_found` listing the models.
 */
export const createRun: Handler<"createRun"> = async (ctx) => {
  const { services } = ctx;
  const body = ctx.body;
  const source = body.from_checkpoint ? await readCheckpointSource(ctx, body, ctx.rawBody as Record<string, unknown>) : undefined;
  const baseModel = source?.config.base_model ?? body.base_model;
  if (baseModel === undefined) throw validationError("base_model: required unless from_checkpoint is given", "base_model");
  if (!services.models.some((m) => m.id === baseModel)) {
    const ids = services.models.map((m) => m.id).join(", ");
    throw new ApiError("model_not_found", `No base model '${baseModel}'; the models are: ${ids}.`, "base_model");
  }
  const config: RunConfig = source?.config ?? {
    base_model: baseModel,
    lora_r: body.lora_r,
    lora_alpha: body.lora_alpha,
    target_modules: [...body.target_modules],
    learning_rate: body.learning_rate,
    beta1: body.optimizer?.beta1 ?? 0.9,
    beta2: body.optimizer?.beta2 ?? 0.999,
    eps: body.optimizer?.eps ?? 1e-8,
    weight_decay: body.optimizer?.weight_decay ?? 0,
    seed: body.seed,
  };
  if (new Set(config.target_modules).size !== config.target_modules.length) {
    throw validationError("target_modules: must not repeat a module", "target_modules");
  }
  const runId = newRunId();
  const now = new Date().toISOString();
  let state;
  try {
    state = await services.engine.createRun(runId, config);
    if (source) {
      state = stateFrom(source, state);
      await services.engine.loadRun(runId, config, state);
    }
  } catch (error) {
    await services.engine.dropRun(runId).catch(() => undefined);
    throw toApiError(error);
  }
  const record: RunRecord = {
    run_id: runId,
    owner: ctx.keyHash,
    config,
    name: body.name ?? null,
    metadata: { ...(body.metadata ?? {}) },
    created_at: now,
    updated_at: now,
    current_step: state.step,
    pending: { calls: 0, loss_sum: 0, num_tokens: 0 },
    checkpoints: [],
    adapter_config: state.adapter_config,
  };
  const run = toRun(record);
  const idempotency = ctx.idempotency && {
    scope: ctx.idempotency.scope,
    record: { request_hash: ctx.idempotency.request_hash, status: 201, body: run, created_at: Date.now() },
  };
  try {
    await services.store.commit(record, idempotency ? { state, idempotency } : { state });
  } catch (error) {
    await services.engine.dropRun(runId).catch(() => undefined);
    throw error;
  }
  services.live.markLoaded(runId);
  return json(201, run, { recordedInRun: runId });
};

/**
 * listRuns: the caller's runs, newest first, only those of `base_model` and/or named `name` when
 * given, `limit` of them or fewer when they pass `limits.maxPageBytes`; the cursor is
 * `<created_at ms>_<run_id>` of the last one.
 */
export const listRuns: Handler<"listRuns"> = async (ctx) => {
  const { limit, after, base_model, name } = ctx.query;
  const mine = [...ctx.services.store.all()]
    .filter((r) => r.owner === ctx.keyHash && (base_model === undefined || r.config.base_model === base_model) && (name === undefined || r.name === name))
    .sort(newestFirst);
  let start = 0;
  if (after !== undefined) {
    const cursor = /^(\d+)_(run_[a-z0-9]{8,40})$/.exec(after);
    if (!cursor) throw validationError("after: not a cursor returned by listRuns", "after");
    const position = { created: Number(cursor[1]), id: cursor[2]! };
    start = mine.findIndex((r) => compareToCursor(r, position) > 0);
    if (start < 0) start = mine.length;
  }
  // A page ends at `limit` runs or, at least one run in, once its runs' JSON passes
  // `maxPageBytes`: a page is never one string of runs with megabytes of metadata each.
  const { maxPageBytes } = ctx.services.limits;
  const data: ReturnType<typeof toRun>[] = [];
  let bytes = 0;
  for (let i = start; i < mine.length && data.length < limit; i++) {
    const run = toRun(mine[i]!);
    bytes += JSON.stringify(run).length;
    if (data.length > 0 && bytes > maxPageBytes) break;
    data.push(run);
  }
  const hasMore = start + data.length < mine.length;
  const last = mine[start + data.length - 1];
  return json(200, {
    object: "list",
    data,
    has_more: hasMore,
    next_cursor: hasMore && last ? `${Date.parse(last.created_at)}_${last.run_id}` : null,
  });
};

/**
 * updateRun: sets the name (`null` removes it) and/or replaces the metadata, in the run's queue
 * (after the training calls before it), committed before it is answered.
 */
export const updateRun: Handler<"updateRun"> = async (ctx) => {
  const runId = ctx.path.run_id;
  ownedRun(ctx, runId);
  const { name, metadata } = ctx.body;
  const { queue, store } = ctx.services;
  const run = await queue.run(runId, async () => {
    const current = ownedRun(ctx, runId);
    const record: RunRecord = {
      ...current,
      ...(name !== undefined ? { name } : {}),
      ...(metadata !== undefined ? { metadata: { ...metadata } } : {}),
      updated_at: new Date().toISOString(),
    };
    await store.commit(record);
    const updated = toRun(record);
    // Watchers (the console's run list and run page) see the new name at once.
    ctx.services.events.publish({ type: "run.updated", run_id: runId, run: updated });
    return updated;
  });
  return json(200, run);
};

/** getRun: the run with its current step. */
export const getRun: Handler<"getRun"> = async (ctx) => json(200, toRun(ownedRun(ctx, ctx.path.run_id)));

/** deleteRun: waits for the run's queued work, then removes it from the engine and the disk. */
export const deleteRun: Handler<"deleteRun"> = async (ctx) => {
  const runId = ctx.path.run_id;
  ownedRun(ctx, runId);
  const { queue, live, adapters, store } = ctx.services;
  await queue.run(runId, async () => {
    ownedRun(ctx, runId);
    await live.discard(runId);
    await adapters.drop(`${runId}@`);
    await store.remove(runId);
    ctx.services.events.publish({ type: "run.deleted", run_id: runId });
  });
  return json(200, { object: "run.deleted", run_id: runId, deleted: true });
};

function newestFirst(a: RunRecord, b: RunRecord): number {
  return Date.parse(b.created_at) - Date.parse(a.created_at) || (a.run_id < b.run_id ? 1 : a.run_id > b.run_id ? -1 : 0);
}

/** > 0 when `run` comes after the cursor position in newest-first order. */
function compareToCursor(run: RunRecord, cursor: { created: number; id: string }): number {
  const created = Date.parse(run.created_at);
  if (created !== cursor.created) return cursor.created - created;
  return run.run_id < cursor.id ? 1 : run.run_id > cursor.id ? -1 : 0;
}
