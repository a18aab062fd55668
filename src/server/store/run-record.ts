import type { components } from "../../../generated/schema.js";
import type { RunConfig } from "../engine/types.js";

type Schemas = components["schemas"];

/** A stored response of an idempotent POST, replayed for a retry with the same key and body. */
export interface IdempotencyRecord {
  /** SHA-256 of the operation, path and canonical body; a different hash means a different request. */
  request_hash: string;
  status: number;
  body: unknown;
  /** Epoch ms; records older than the retention are pruned. */
  created_at: number;
  /** The run the record belongs to, so deleting the run drops it too. */
  run_id?: string;
}

/** One listed checkpoint; its files live in `checkpoints/<dir>/` of the run's directory. */
export interface CheckpointRecord {
  step: number;
  mode: "adapter" | "state";
  size_bytes: number;
  created_at: string;
  /** The directory holding its files: `<step>-<12 hex>` (or `<step>` for a migrated one). */
  dir: string;
  /** When it expires (RFC 3339); absent or null when it never does. */
  expires_at?: string | null;
}

/** A checkpoint removed because it expired: kept so asking for it still says so. */
interface ExpiredCheckpoint {
  step: number;
  expires_at: string;
}

/** Gradients accumulated since the last optimizer step, and what their calls reported. */
interface PendingAccumulation {
  calls: number;
  loss_sum: number;
  num_tokens: number;
  /** Sum of the token accuracies of the calls that reported one, and how many did (absent in records of older servers). */
  accuracy_sum?: number;
  accuracy_calls?: number;
}

/**
 * What the server keeps in memory about a run: everything except its tensors, metrics and
 * idempotency records, which are read from the store. It changes in the same transaction as the
 * weights, optimizer and accumulator.
 */
export interface RunRecord {
  run_id: string;
  /** SHA-256 of the API key that created the run (never the key). */
  owner: string;
  config: RunConfig;
  /** The run's name (`createRun`, `updateRun`); absent in records written before names existed. */
  name?: string | null;
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string;
  current_step: number;
  pending: PendingAccumulation;
  checkpoints: CheckpointRecord[];
  adapter_config: Record<string, unknown>;
  /**
   * Per client of pipelined calls (`Signal-Sequence`), the next position to apply and when it
   * was set (epoch ms); committed with the call it follows, so a restart keeps the order.
   */
  sequences?: Record<string, { next: number; at: number }>;
  /**
   * Checkpoints removed because they expired (the newest `EXPIRED_KEPT`), so a request for one
   * is answered `checkpoint_expired` whether or not its files are gone yet; a new checkpoint at
   * the step takes its place.
   */
  expired_checkpoints?: ExpiredCheckpoint[];
}

/** Expired checkpoints remembered per run. */
export const EXPIRED_KEPT = 1000;

/** The wire `Run` of a record. */
export function toRun(record: RunRecord): Schemas["Run"] {
  const c = record.config;
  return {
    object: "run",
    run_id: record.run_id,
    base_model: c.base_model,
    lora_r: c.lora_r,
    lora_alpha: c.lora_alpha,
    target_modules: [...c.target_modules],
    learning_rate: c.learning_rate,
    seed: c.seed,
    optimizer: { beta1: c.beta1, beta2: c.beta2, eps: c.eps, weight_decay: c.weight_decay },
    name: record.name ?? null,
    metadata: { ...record.metadata },
    status: "active",
    current_step: record.current_step,
    created_at: record.created_at,
    updated_at: record.updated_at,
  };
}

/** The wire `Checkpoint` of a run's checkpoint, with the run's PEFT `adapter_config`. */
export function toCheckpoint(run: Pick<RunRecord, "run_id" | "adapter_config">, checkpoint: CheckpointRecord): Schemas["Checkpoint"] {
  const runId = run.run_id;
  return {
    object: "checkpoint",
    checkpoint_id: `ckpt_${runId}_${checkpoint.step}`,
    run_id: runId,
    step: checkpoint.step,
    mode: checkpoint.mode,
    size_bytes: checkpoint.size_bytes,
    created_at: checkpoint.created_at,
    expires_at: checkpoint.expires_at ?? null,
    // The record holds what the engine's adapterConfig() wrote when the run was created.
    adapter_config: structuredClone(run.adapter_config) as unknown as Schemas["AdapterConfig"],
  };
}
