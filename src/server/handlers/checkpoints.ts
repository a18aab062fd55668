import { pageByStep } from "../store/page-by-step.js";
import type { components } from "../../../generated/schema.js";
import { type Handler, json } from "../context.js";
import { type F32Tensor, readSafetensors, writeSafetensors } from "../engine/index.js";
import type { RunState } from "../engine/types.js";
import { changeRun, nextRecord, ownedRun } from "../runs/run-access.js";
import { toCheckpoint, toRun } from "../store/run-record.js";
import { CHECKPOINT_FILES, findCheckpoint, liveCheckpoints, weightsLost } from "../runs/weights.js";
import type { CheckpointRecord, RunRecord } from "../store/run-record.js";

type Schemas = components["schemas"];

/**
 * createCheckpoint: the live adapter (and optimizer for mode "state") at the current step,
 * written durably into a directory of its own, then listed in one transaction; saving again at a
 * step replaces the old copy only once the new one is committed (the old files go after that).
 * With `ttl_seconds` it expires that long from now (`ServerOptions.clock`).
 */
export const createCheckpoint: Handler<"createCheckpoint"> = (ctx) => {
  const runId = ctx.path.run_id;
  const mode = ctx.body.mode ?? "adapter";
  const ttl = ctx.body.ttl_seconds;
  return changeRun(ctx, runId, async (run) => {
    const state = await ctx.services.engine.exportState(runId);
    const files: Record<string, Uint8Array | string> = {
      [CHECKPOINT_FILES.adapter]: state.adapter,
      [CHECKPOINT_FILES.config]: `${JSON.stringify(state.adapter_config, null, 2)}\n`,
    };
    if (mode === "state") files[CHECKPOINT_FILES.optimizer] = state.optimizer;
    await ctx.services.adapters.drop(`${runId}@${run.current_step}#`);
    const record = nextRecord(run);
    const checkpoint = await ctx.services.store.writeCheckpoint(runId, run.current_step, mode, record.updated_at, files);
    if (ttl !== undefined) checkpoint.expires_at = expiresAt(ctx.services.clock(), ttl);
    forgetExpired(record, checkpoint.step);
    record.checkpoints = [...run.checkpoints.filter((c) => c.step !== checkpoint.step), checkpoint].sort((a, b) => a.step - b.step);
    const body = toCheckpoint({ run_id: runId, adapter_config: state.adapter_config }, checkpoint);
    return { record, checkpoint, status: 201, body, event: { type: "checkpoint.saved", run_id: runId, step: checkpoint.step, checkpoint: body } };
  });
};

/** listCheckpoints: the run's checkpoints that have not expired, by step ascending; the cursor is the last step. */
export const listCheckpoints: Handler<"listCheckpoints"> = async (ctx) => {
  const run = ownedRun(ctx, ctx.path.run_id);
  const checkpoints = liveCheckpoints(ctx, run)
    .map((c) => toCheckpoint(run, c))
    .sort((a, b) => a.step - b.step);
  const body: Schemas["CheckpointList"] = pageByStep(checkpoints, ctx.query, "listCheckpoints");
  return json(200, body);
};

/** getCheckpoint: one checkpoint. */
export const getCheckpoint: Handler<"getCheckpoint"> = async (ctx) => {
  const run = ownedRun(ctx, ctx.path.run_id);
  return json(200, toCheckpoint(run, findCheckpoint(ctx, run, ctx.path.step)));
};

/** downloadCheckpoint: the adapter's safetensors bytes (PEFT names). */
export const downloadCheckpoint: Handler<"downloadCheckpoint"> = async (ctx) => {
  const run = ownedRun(ctx, ctx.path.run_id);
  const checkpoint = findCheckpoint(ctx, run, ctx.path.step);
  let bytes: Buffer;
  try {
    bytes = await ctx.services.store.readCheckpointFile(run.run_id, checkpoint.step, CHECKPOINT_FILES.adapter);
  } catch (error) {
    // Deleted (or saved again) between the lookup and the read.
    throw weightsLost(ctx, { adapterKey: `${run.run_id}@${checkpoint.step}#${checkpoint.created_at}` }, error);
  }
  return { kind: "bytes", status: 200, body: bytes, contentType: "application/octet-stream" };
};

/** deleteCheckpoint: unlisted first (one transaction), then its files are removed. */
export const deleteCheckpoint: Handler<"deleteCheckpoint"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const step = ctx.path.step;
  ownedRun(ctx, runId);
  await ctx.services.queue.run(runId, async () => {
    const run = ownedRun(ctx, runId);
    findCheckpoint(ctx, run, step);
    const record = nextRecord(run);
    record.checkpoints = run.checkpoints.filter((c) => c.step !== step);
    await ctx.services.store.commit(record, { removeCheckpoint: step });
    ctx.services.events.publish({ type: "checkpoint.deleted", run_id: runId, step });
    await ctx.services.adapters.drop(`${runId}@${step}#`);
  });
  const body: Schemas["CheckpointDeleted"] = { object: "checkpoint.deleted", run_id: runId, step, deleted: true };
  return json(200, body);
};

/**
 * setCheckpointTtl: the checkpoint expires `ttl_seconds` from now, or never (`null`); in the
 * run's queue, committed before it is answered. An expired one stays expired (404).
 */
export const setCheckpointTtl: Handler<"setCheckpointTtl"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const step = ctx.path.step;
  const ttl = ctx.body.ttl_seconds;
  ownedRun(ctx, runId);
  const body = await ctx.services.queue.run(runId, async () => {
    const run = ownedRun(ctx, runId);
    const checkpoint: CheckpointRecord = { ...findCheckpoint(ctx, run, step), expires_at: ttl === null ? null : expiresAt(ctx.services.clock(), ttl) };
    const record = nextRecord(run);
    record.checkpoints = run.checkpoints.map((c) => (c.step === step ? checkpoint : c));
    await ctx.services.store.commit(record, { checkpoint });
    return toCheckpoint(record, checkpoint);
  });
  return json(200, body);
};

/** RFC 3339 time `ttlSeconds` after `now` (epoch ms). */
function expiresAt(now: number, ttlSeconds: number): string {
  return new Date(now + ttlSeconds * 1000).toISOString();
}

/** A new checkpoint at `step` is not the one that expired there. */
function forgetExpired(record: RunRecord, step: number): void {
  if (record.expired_checkpoints?.some((e) => e.step === step)) record.expired_checkpoints = record.expired_checkpoints.filter((e) => e.step !== step);
}

/**
 * restoreCheckpoint: the checkpoint's adapter becomes the live one and its step the run's step;
 * accumulated gradients are dropped, metrics after the step are dropped (they describe steps that
 * no longer happened), and the optimizer comes from a "state" checkpoint or starts from zero moments.
 */
export const restoreCheckpoint: Handler<"restoreCheckpoint"> = (ctx) => {
  const runId = ctx.path.run_id;
  const step = ctx.body.step;
  return changeRun(ctx, runId, async (run) => {
    const checkpoint = findCheckpoint(ctx, run, step);
    const { store, engine } = ctx.services;
    const adapter = await store.readCheckpointFile(runId, step, CHECKPOINT_FILES.adapter);
    const adapterConfig = JSON.parse((await store.readCheckpointFile(runId, step, CHECKPOINT_FILES.config)).toString("utf8")) as Record<string, unknown>;
    const restoresOptimizer = checkpoint.mode === "state";
    const optimizer = restoresOptimizer
      ? await store.readCheckpointFile(runId, step, CHECKPOINT_FILES.optimizer)
      : zeroed((await engine.exportState(runId)).optimizer);
    const state: RunState = { step, adapter: new Uint8Array(adapter), adapter_config: adapterConfig, optimizer: new Uint8Array(optimizer) };
    await engine.loadRun(runId, run.config, state);
    const record = nextRecord(run);
    record.current_step = step;
    record.pending = { calls: 0, loss_sum: 0, num_tokens: 0 };
    record.adapter_config = adapterConfig;
    const body: Schemas["RestoreResponse"] = { run_id: runId, step, mode: checkpoint.mode, restored_optimizer: restoresOptimizer };
    return { record, state, dropMetricsAfter: step, status: 200, body, event: { type: "run.updated", run_id: runId, run: toRun(record) } };
  });
};

/** Optimizer state with every moment (and the step counter) set to zero: a fresh AdamW. */
function zeroed(optimizer: Uint8Array): Uint8Array {
  const file = readSafetensors(optimizer);
  const tensors = [...file.tensors].map(([name, t]): [string, F32Tensor] => [name, { shape: t.shape, data: new Float32Array(t.data.length) }]);
  return writeSafetensors(tensors, file.metadata);
}
