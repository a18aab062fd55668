import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import type { RequestContext } from "../context.js";
import type { RunConfig, RunState } from "../engine/types.js";
import { ownedRun } from "../runs/run-access.js";
import { CHECKPOINT_FILES, findCheckpoint, weightsLost } from "../runs/weights.js";

type CreateRunRequest = components["schemas"]["CreateRunRequest"];

/** What a run started `from_checkpoint` takes from it. */
export interface CheckpointSource {
  /** The source run's config, with the fields the request gave explicitly (and may) applied. */
  config: RunConfig;
  step: number;
  adapter: Uint8Array;
  adapter_config: Record<string, unknown>;
  /** The optimizer state of a `state` checkpoint; absent for an `adapter` one (fresh moments). */
  optimizer?: Uint8Array;
}

/** Fields that must be the source run's: the adapter's shape and what it adapts. */
const INHERITED = ["base_model", "lora_r", "lora_alpha", "target_modules"] as const;

/**
 * Reads the checkpoint a new run starts from: one of this key's runs only (another key's is a
 * 404 like a missing one), not expired.
 *
 * @param raw the request body as sent (before defaults), to tell given fields from defaults.
 * @throws ApiError 404 naming `from_checkpoint.run_id` / `from_checkpoint.step`; 400
 *   `invalid_request` naming a field given with another value than the source run's.
 */
export async function readCheckpointSource(ctx: RequestContext, body: CreateRunRequest, raw: Record<string, unknown>): Promise<CheckpointSource> {
  const from = body.from_checkpoint!;
  const run = ownedRun(ctx, from.run_id, "from_checkpoint.run_id");
  const checkpoint = findCheckpoint(ctx, run, from.step, "from_checkpoint.step");
  const source = run.config;
  for (const field of INHERITED) {
    if (raw[field] === undefined) continue;
    const given = body[field];
    const same = Array.isArray(given) ? sameSet(given, source.target_modules) : given === source[field];
    if (!same) {
      const value = (v: unknown) => (Array.isArray(v) ? `[${v.join(", ")}]` : String(v));
      throw new ApiError(
        "invalid_request",
        `${field}: run ${run.run_id} has ${field} ${value(source[field])}, so its checkpoint cannot start a run with ${value(given)}; omit ${field} to inherit it.`,
        field,
      );
    }
  }
  const rawOptimizer = (raw.optimizer ?? {}) as Record<string, unknown>;
  const pick = <K extends "beta1" | "beta2" | "eps" | "weight_decay">(k: K) =>
    rawOptimizer[k] !== undefined && body.optimizer?.[k] !== undefined ? body.optimizer[k] : source[k];
  const config: RunConfig = {
    ...structuredClone(source),
    learning_rate: raw.learning_rate !== undefined && body.learning_rate !== undefined ? body.learning_rate : source.learning_rate,
    seed: raw.seed !== undefined && body.seed !== undefined ? body.seed : source.seed,
    beta1: pick("beta1"),
    beta2: pick("beta2"),
    eps: pick("eps"),
    weight_decay: pick("weight_decay"),
  };
  const { store } = ctx.services;
  try {
    const adapter = new Uint8Array(await store.readCheckpointFile(run.run_id, checkpoint.step, CHECKPOINT_FILES.adapter));
    const adapterConfig = JSON.parse((await store.readCheckpointFile(run.run_id, checkpoint.step, CHECKPOINT_FILES.config)).toString("utf8")) as Record<
      string,
      unknown
    >;
    const result: CheckpointSource = { config, step: checkpoint.step, adapter, adapter_config: adapterConfig };
    if (checkpoint.mode === "state") result.optimizer = new Uint8Array(await store.readCheckpointFile(run.run_id, checkpoint.step, CHECKPOINT_FILES.optimizer));
    return result;
  } catch (error) {
    // Deleted or expired while its files were read.
    throw weightsLost(ctx, { adapterKey: `${run.run_id}@${checkpoint.step}#` }, error, (p) => `from_checkpoint.${p}`);
  }
}

/** The state a run started from `source` is loaded with: `fresh` (the engine's new run) with the checkpoint's adapter, and its optimizer when it has one. */
export function stateFrom(source: CheckpointSource, fresh: RunState): RunState {
  return { step: source.step, adapter: source.adapter, adapter_config: source.adapter_config, optimizer: source.optimizer ?? fresh.optimizer };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
