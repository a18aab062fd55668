import type { components } from "../../../generated/schema.js";
import type { RunState } from "../engine/types.js";
import type { RunCommit } from "./run-store.js";
import { IDEMPOTENCY_DEFAULTS } from "./run-store.js";
import { RUN_ID_PATTERN } from "./ids.js";
import type { CheckpointRecord, IdempotencyRecord, RunRecord } from "./run-record.js";

type Metric = components["schemas"]["Metric"];

interface StoredRun {
  state: RunState;
  metrics: Metric[];
  /** Checkpoint files by checkpoint directory name, then file name. */
  files: Map<string, Map<string, Buffer>>;
}

/**
 * The run store in memory only (`dataDir: ":memory:"`): the same operations as `RunStore`, with
 * nothing written to disk and no native database driver, for throw-away servers (an app's
 * tests through `createLocalServer`). Everything is gone when the process ends; a commit is
 * "durable" the moment it returns, which is all a server that cannot outlive its process needs.
 */
export class MemoryRunStore {
  readonly dataDir = ":memory:";
  readonly #runs = new Map<string, RunRecord>();
  readonly #stored = new Map<string, StoredRun>();
  readonly #idempotency = new Map<string, IdempotencyRecord & { run_id: string }>();
  /** Files written by `writeCheckpoint` and not committed yet, by `<run_id>/<dir>`. */
  readonly #pending = new Map<string, Map<string, Buffer>>();
  #counter = 0;

  close(): void {}

  get(runId: string): RunRecord | undefined {
    return this.#runs.get(runId);
  }

  all(): IterableIterator<RunRecord> {
    return this.#runs.values();
  }

  async commit(record: RunRecord, change: RunCommit = {}): Promise<void> {
    const runId = record.run_id;
    checkRunId(runId);
    let stored = this.#stored.get(runId);
    if (!stored) {
      if (!change.state) throw new Error(`run ${runId}: a new run needs its tensors`);
      stored = { state: copyState(change.state), metrics: [], files: new Map() };
      this.#stored.set(runId, stored);
    } else if (change.state) stored.state = copyState(change.state);
    if (change.dropMetricsAfter !== undefined) stored.metrics = stored.metrics.filter((m) => m.step <= change.dropMetricsAfter!);
    if (change.metric) {
      stored.metrics = stored.metrics.filter((m) => m.step !== change.metric!.step);
      stored.metrics.push({ ...change.metric });
      stored.metrics.sort((a, b) => a.step - b.step);
    }
    const previous = this.#runs.get(runId);
    if (change.checkpoint) {
      const replaced = previous?.checkpoints.find((c) => c.step === change.checkpoint!.step);
      if (replaced && replaced.dir !== change.checkpoint.dir) stored.files.delete(replaced.dir);
      const key = `${runId}/${change.checkpoint.dir}`;
      // A listed checkpoint committed again (a new lifetime) keeps its files.
      const written = this.#pending.get(key);
      if (written) stored.files.set(change.checkpoint.dir, written);
      else if (!stored.files.has(change.checkpoint.dir)) stored.files.set(change.checkpoint.dir, new Map());
      this.#pending.delete(key);
    }
    if (change.removeCheckpoint !== undefined) {
      const removed = previous?.checkpoints.find((c) => c.step === change.removeCheckpoint);
      if (removed) stored.files.delete(removed.dir);
    }
    if (change.idempotency) this.#putIdempotency(runId, change.idempotency.scope, change.idempotency.record);
    this.#runs.set(runId, record);
  }

  async readState(runId: string): Promise<RunState> {
    const record = this.#runs.get(runId);
    const stored = this.#stored.get(runId);
    if (!record || !stored) throw new Error(`run ${runId} has no stored tensors`);
    const state: RunState = { ...copyState(stored.state), step: record.current_step, adapter_config: record.adapter_config };
    return state;
  }

  metrics(runId: string, afterStep: number, limit: number): Metric[] {
    const all = this.#stored.get(runId)?.metrics ?? [];
    return all.filter((m) => m.step > afterStep).slice(0, limit);
  }

  /** As `RunStore.recordEval`: the evaluation figures of the metric row at `step`; false when there is none. */
  recordEval(runId: string, step: number, evalLoss: number, evalTokenAccuracy: number): boolean {
    const row = this.#stored.get(runId)?.metrics.find((m) => m.step === step);
    if (!row) return false;
    row.eval_loss = evalLoss;
    row.eval_token_accuracy = evalTokenAccuracy;
    return true;
  }

  findIdempotency(scope: string): (IdempotencyRecord & { run_id: string }) | undefined {
    return this.#idempotency.get(scope);
  }

  async remove(runId: string): Promise<void> {
    checkRunId(runId);
    this.#runs.delete(runId);
    this.#stored.delete(runId);
    for (const [scope, record] of this.#idempotency) if (record.run_id === runId) this.#idempotency.delete(scope);
    for (const key of this.#pending.keys()) if (key.startsWith(`${runId}/`)) this.#pending.delete(key);
  }

  async writeCheckpoint(
    runId: string,
    step: number,
    mode: CheckpointRecord["mode"],
    createdAt: string,
    files: Record<string, Uint8Array | string>,
  ): Promise<CheckpointRecord> {
    checkRunId(runId);
    const dir = `${step}-${(++this.#counter).toString(16).padStart(12, "0")}`;
    const written = new Map<string, Buffer>();
    let size = 0;
    for (const [name, data] of Object.entries(files)) {
      const bytes = typeof data === "string" ? Buffer.from(data) : Buffer.from(data);
      written.set(name, bytes);
      size += bytes.length;
    }
    this.#pending.set(`${runId}/${dir}`, written);
    return { step, mode, size_bytes: size, created_at: createdAt, dir };
  }

  readCheckpointFile(runId: string, step: number, name: string): Promise<Buffer> {
    const checkpoint = this.#runs.get(runId)?.checkpoints.find((c) => c.step === step);
    const file = checkpoint && this.#stored.get(runId)?.files.get(checkpoint.dir)?.get(name);
    if (!file) return Promise.reject(Object.assign(new Error(`no file ${name} of checkpoint ${runId}@${step}`), { code: "ENOENT" }));
    return Promise.resolve(Buffer.from(file));
  }

  #putIdempotency(runId: string, scope: string, record: IdempotencyRecord): void {
    this.#idempotency.set(scope, { ...record, run_id: runId });
    const mine = [...this.#idempotency].filter(([, r]) => r.run_id === runId);
    const oldest = record.created_at - IDEMPOTENCY_DEFAULTS.retentionMs;
    for (const [key, r] of mine) if (r.created_at < oldest) this.#idempotency.delete(key);
    if (mine.length > IDEMPOTENCY_DEFAULTS.maxPerRun) {
      const excess = mine.sort((a, b) => a[1].created_at - b[1].created_at).slice(0, mine.length - IDEMPOTENCY_DEFAULTS.maxPerRun);
      for (const [key] of excess) this.#idempotency.delete(key);
    }
  }
}

/** Copies, so a caller changing its arrays afterwards cannot change what was committed. */
function copyState(state: RunState): RunState {
  const out: RunState = { step: state.step, adapter: state.adapter.slice(), adapter_config: state.adapter_config, optimizer: state.optimizer.slice() };
  if (state.accumulated) out.accumulated = state.accumulated.slice();
  return out;
}

function checkRunId(runId: string): void {
  if (!RUN_ID_PATTERN.test(runId)) throw new Error("invalid run id");
}
