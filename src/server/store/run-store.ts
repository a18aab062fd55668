import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { components } from "../../../generated/schema.js";
import type { RunState } from "../engine/types.js";
import { isTempName, syncDir, writeFileDurable } from "./atomic-write.js";
import { RUN_ID_PATTERN } from "./ids.js";
import type { CheckpointRecord, IdempotencyRecord, RunRecord } from "./run-record.js";
import { type Database, asInfrastructureError, openDatabase } from "./sqlite.js";
import { decodeStateFile } from "./state-file.js";

type Metric = components["schemas"]["Metric"];

/** How long and how many idempotency records are kept per run. */
export const IDEMPOTENCY_DEFAULTS = {
  /** Records older than this are pruned; a retry after that applies the work again. @default 24 h */
  retentionMs: 24 * 60 * 60 * 1000,
  /** Newest records kept per run. @default 1000 */
  maxPerRun: 1000,
} as const;

/** The database file inside the data directory. */
const DATABASE_FILE = "signal.db";
/** The state file of the format before the database (migrated on open). */
const LEGACY_STATE_FILE = "state.bin";
const SCHEMA_VERSION = 3;

/** Columns of `metrics` added after schema 1 (nullable: rows written before them have none). */
const METRIC_COLUMNS_SINCE_1 = ["token_accuracy", "eval_loss", "eval_token_accuracy"] as const;
/** Columns of `checkpoints` added after schema 2 (nullable: rows written before never expire). */
const CHECKPOINT_COLUMNS_SINCE_2 = ["expires_at"] as const;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  header TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_tensors (
  run_id TEXT PRIMARY KEY REFERENCES runs (run_id) ON DELETE CASCADE,
  adapter BLOB NOT NULL,
  optimizer BLOB NOT NULL,
  accumulated BLOB
);
CREATE TABLE IF NOT EXISTS metrics (
  run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  loss REAL NOT NULL,
  grad_norm REAL NOT NULL,
  learning_rate REAL NOT NULL,
  num_tokens INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  token_accuracy REAL,
  eval_loss REAL,
  eval_token_accuracy REAL,
  PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
  run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  mode TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  dir TEXT NOT NULL,
  expires_at TEXT,
  PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT PRIMARY KEY,
  run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  request_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_by_run ON idempotency (run_id, created_at);
`;

/** The part of a run record kept in the `header` column (run id, owner and checkpoints have their own). */
type Header = Omit<RunRecord, "run_id" | "owner" | "checkpoints">;

/** Metric rows and idempotency records (by scope) of a run. */
export interface RunHistory {
  metrics?: Iterable<Metric>;
  idempotency?: Iterable<[string, IdempotencyRecord]>;
}

/** Everything one applied call changes, committed in one transaction. */
export interface RunCommit {
  /** New tensors; omitted keeps the stored ones. */
  state?: RunState;
  /** The metric row of an applied optimizer step (appended). */
  metric?: Metric;
  /** Drop the metric rows after this step (a restore to an earlier step). */
  dropMetricsAfter?: number;
  /** The call's idempotency record. */
  idempotency?: { scope: string; record: IdempotencyRecord };
  /** A checkpoint whose files `writeCheckpoint` made durable; replaces one at the same step. */
  checkpoint?: CheckpointRecord;
  /** The step of a checkpoint to unlist (its files are removed once that is committed). */
  removeCheckpoint?: number;
}

/**
 * What the server uses of a run store: `RunStore` (SQLite and files under a data directory) or
 * `MemoryRunStore` (`dataDir: ":memory:"`, nothing on disk).
 */
export type RunStorage = Pick<
  RunStore,
  | "dataDir"
  | "close"
  | "get"
  | "all"
  | "commit"
  | "readState"
  | "metrics"
  | "recordEval"
  | "findIdempotency"
  | "remove"
  | "writeCheckpoint"
  | "readCheckpointFile"
>;

/**
 * The runs, in one SQLite database plus checkpoint files. Layout under `dataDir`:
 *
 * ```
 * signal.db (+ -wal, -shm)                      runs, their tensors, metrics, checkpoints, idempotency records
 * runs/<run_id>/checkpoints/<step>-<hex>/adapter_model.safetensors
 * runs/<run_id>/checkpoints/<step>-<hex>/adapter_config.json
 * runs/<run_id>/checkpoints/<step>-<hex>/optimizer.safetensors   (mode "state" only)
 * trash/                                        run directories being deleted
 * ```
 *
 * Each applied call is one transaction (WAL, `synchronous=FULL`): the run's header and tensors
 * are updated in place, its metric row and idempotency record appended, so its cost does not
 * depend on how long the run is. Checkpoint files go into a directory of their own that no
 * committed row names yet; the row that lists it is committed only after the files are durable,
 * and a checkpoint it replaces is deleted only after that commit. A crash at any instant thus
 * leaves every listed checkpoint whole; directories no row names are removed on open.
 *
 * Run headers (small: no metrics, no idempotency records) are kept in memory; metrics and
 * idempotency records are read from the database. Callers serialise writes per run.
 */
export class RunStore {
  readonly #runs = new Map<string, RunRecord>();
  readonly #db: Database;
  readonly #sql;

  private constructor(
    readonly dataDir: string,
    db: Database,
  ) {
    this.#db = db;
    db.exec(SCHEMA);
    const version = db.prepare("SELECT value FROM store_meta WHERE key = 'schema_version'").pluck().get() as string | undefined;
    if (version === undefined) db.prepare("INSERT INTO store_meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    else if (Number(version) < SCHEMA_VERSION) {
      const columns = new Set((db.prepare("PRAGMA table_info(metrics)").all() as { name: string }[]).map((c) => c.name));
      const checkpointColumns = new Set((db.prepare("PRAGMA table_info(checkpoints)").all() as { name: string }[]).map((c) => c.name));
      db.transaction(() => {
        for (const column of METRIC_COLUMNS_SINCE_1) if (!columns.has(column)) db.exec(`ALTER TABLE metrics ADD COLUMN ${column} REAL`);
        for (const column of CHECKPOINT_COLUMNS_SINCE_2) if (!checkpointColumns.has(column)) db.exec(`ALTER TABLE checkpoints ADD COLUMN ${column} TEXT`);
        db.prepare("UPDATE store_meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
      })();
    } else if (Number(version) > SCHEMA_VERSION) {
      throw new Error(
        `${path.join(dataDir, DATABASE_FILE)} was written by a newer server (schema ${version}, this one reads ${SCHEMA_VERSION}); upgrade frontier-signal or use another --data-dir.`,
      );
    }
    this.#sql = {
      insertRun: db.prepare("INSERT INTO runs (run_id, owner, header) VALUES (?, ?, ?)"),
      updateRun: db.prepare("UPDATE runs SET header = ? WHERE run_id = ?"),
      putTensors: db.prepare("INSERT OR REPLACE INTO run_tensors (run_id, adapter, optimizer, accumulated) VALUES (?, ?, ?, ?)"),
      getTensors: db.prepare("SELECT adapter, optimizer, accumulated FROM run_tensors WHERE run_id = ?"),
      insertMetric: db.prepare(
        "INSERT OR REPLACE INTO metrics (run_id, step, loss, grad_norm, learning_rate, num_tokens, created_at, token_accuracy, eval_loss, eval_token_accuracy) VALUES (@run_id, @step, @loss, @grad_norm, @learning_rate, @num_tokens, @created_at, @token_accuracy, @eval_loss, @eval_token_accuracy)",
      ),
      dropMetricsAfter: db.prepare("DELETE FROM metrics WHERE run_id = ? AND step > ?"),
      metricsPage: db.prepare(
        "SELECT step, loss, grad_norm, learning_rate, num_tokens, token_accuracy, eval_loss, eval_token_accuracy, created_at FROM metrics WHERE run_id = ? AND step > ? ORDER BY step LIMIT ?",
      ),
      recordEval: db.prepare("UPDATE metrics SET eval_loss = ?, eval_token_accuracy = ? WHERE run_id = ? AND step = ?"),
      putCheckpoint: db.prepare(
        "INSERT OR REPLACE INTO checkpoints (run_id, step, mode, size_bytes, created_at, dir, expires_at) VALUES (@run_id, @step, @mode, @size_bytes, @created_at, @dir, @expires_at)",
      ),
      deleteCheckpoint: db.prepare("DELETE FROM checkpoints WHERE run_id = ? AND step = ?"),
      allRuns: db.prepare("SELECT run_id, owner, header FROM runs"),
      allCheckpoints: db.prepare("SELECT run_id, step, mode, size_bytes, created_at, dir, expires_at FROM checkpoints ORDER BY run_id, step"),
      putIdempotency: db.prepare("INSERT OR REPLACE INTO idempotency (scope, run_id, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?)"),
      getIdempotency: db.prepare("SELECT run_id, request_hash, status, body, created_at FROM idempotency WHERE scope = ?"),
      pruneOld: db.prepare("DELETE FROM idempotency WHERE run_id = ? AND created_at < ?"),
      pruneExcess: db.prepare(
        "DELETE FROM idempotency WHERE run_id = @run_id AND created_at < (SELECT created_at FROM idempotency WHERE run_id = @run_id ORDER BY created_at DESC LIMIT 1 OFFSET @keep)",
      ),
      deleteRun: db.prepare("DELETE FROM runs WHERE run_id = ?"),
    };
  }

  /**
   * Opens (creating if needed) a data directory: the database, then runs of the earlier
   * state-file format are migrated into it, then what an interrupted create, delete or
   * checkpoint left behind is removed. A state file that cannot be read is reported through
   * `warn` and left in place, never deleted.
   *
   * @throws Error naming the `npm install` command when better-sqlite3 is missing.
   */
  static async open(dataDir: string, warn: (message: string) => void = () => {}): Promise<RunStore> {
    const root = path.resolve(dataDir);
    await mkdir(path.join(root, "runs"), { recursive: true });
    const store = new RunStore(root, openDatabase(path.join(root, DATABASE_FILE)));
    store.#loadHeaders();
    await rm(path.join(root, "trash"), { recursive: true, force: true });
    for (const name of await readdir(path.join(root, "runs"))) {
      if (!RUN_ID_PATTERN.test(name)) continue;
      await store.#openRunDir(name, warn);
    }
    return store;
  }

  /** Closes the database (the store must not be used afterwards). */
  close(): void {
    if (this.#db.open) this.#db.close();
  }

  get(runId: string): RunRecord | undefined {
    return this.#runs.get(runId);
  }

  all(): IterableIterator<RunRecord> {
    return this.#runs.values();
  }

  /**
   * Commits `record` as the run's header together with everything in `change`, in one durable
   * transaction, then removes the files of a checkpoint it replaced or unlisted. A run not yet
   * stored is inserted (and must come with `change.state`).
   *
   * @throws an error with an errno-style `code` (ENOSPC, EIO, ...) when the disk refuses the write.
   */
  async commit(record: RunRecord, change: RunCommit = {}): Promise<void> {
    const runId = record.run_id;
    checkRunId(runId);
    const previous = this.#runs.get(runId);
    const stale: string[] = [];
    try {
      this.#db.transaction(() => {
        if (previous) this.#sql.updateRun.run(JSON.stringify(headerOf(record)), runId);
        else {
          if (!change.state) throw new Error(`run ${runId}: a new run needs its tensors`);
          this.#sql.insertRun.run(runId, record.owner, JSON.stringify(headerOf(record)));
        }
        if (change.state) this.#sql.putTensors.run(runId, change.state.adapter, change.state.optimizer, change.state.accumulated ?? null);
        if (change.dropMetricsAfter !== undefined) this.#sql.dropMetricsAfter.run(runId, change.dropMetricsAfter);
        if (change.metric) this.#sql.insertMetric.run(metricRow(runId, change.metric));
        if (change.checkpoint) {
          const replaced = previous?.checkpoints.find((c) => c.step === change.checkpoint!.step);
          if (replaced && replaced.dir !== change.checkpoint.dir) stale.push(replaced.dir);
          this.#sql.putCheckpoint.run(checkpointRow(runId, change.checkpoint));
        }
        if (change.removeCheckpoint !== undefined) {
          const removed = previous?.checkpoints.find((c) => c.step === change.removeCheckpoint);
          if (removed) stale.push(removed.dir);
          this.#sql.deleteCheckpoint.run(runId, change.removeCheckpoint);
        }
        if (change.idempotency) this.#putIdempotency(runId, change.idempotency.scope, change.idempotency.record);
      })();
    } catch (error) {
      throw asInfrastructureError(error);
    }
    this.#runs.set(runId, record);
    for (const dir of stale) await rm(this.#checkpointDir(runId, dir), { recursive: true, force: true });
  }

  /**
   * Adds a run with a history it already has (metric rows and idempotency records) in one
   * transaction: migration from the state-file format.
   */
  importRun(record: RunRecord, state: RunState, history: RunHistory = {}): void {
    checkRunId(record.run_id);
    try {
      this.#db.transaction(() => {
        this.#sql.insertRun.run(record.run_id, record.owner, JSON.stringify(headerOf(record)));
        this.#sql.putTensors.run(record.run_id, state.adapter, state.optimizer, state.accumulated ?? null);
        for (const checkpoint of record.checkpoints) this.#sql.putCheckpoint.run(checkpointRow(record.run_id, checkpoint));
        this.#appendHistory(record.run_id, history);
      })();
    } catch (error) {
      throw asInfrastructureError(error);
    }
    this.#runs.set(record.run_id, record);
  }

  /**
   * Sets a stored run's header and appends history to it in one transaction, without the
   * per-record pruning of `commit` (benchmarks use it to give a run a long record without
   * training it).
   */
  appendHistory(record: RunRecord, history: RunHistory): void {
    checkRunId(record.run_id);
    if (!this.#runs.has(record.run_id)) throw new Error(`run ${record.run_id} is not stored`);
    try {
      this.#db.transaction(() => {
        this.#sql.updateRun.run(JSON.stringify(headerOf(record)), record.run_id);
        this.#appendHistory(record.run_id, history);
      })();
    } catch (error) {
      throw asInfrastructureError(error);
    }
    this.#runs.set(record.run_id, record);
  }

  #appendHistory(runId: string, history: RunHistory): void {
    for (const metric of history.metrics ?? []) this.#sql.insertMetric.run(metricRow(runId, metric));
    for (const [scope, r] of history.idempotency ?? [])
      this.#sql.putIdempotency.run(scope, runId, r.request_hash, r.status, JSON.stringify(r.body), r.created_at);
  }

  /** The run's persisted tensors, as the engine's `loadRun` takes them. */
  async readState(runId: string): Promise<RunState> {
    const record = this.#runs.get(runId);
    const row = this.#sql.getTensors.get(runId) as { adapter: Buffer; optimizer: Buffer; accumulated: Buffer | null } | undefined;
    if (!record || !row) throw new Error(`run ${runId} has no stored tensors`);
    const state: RunState = {
      step: record.current_step,
      adapter: new Uint8Array(row.adapter),
      adapter_config: record.adapter_config,
      optimizer: new Uint8Array(row.optimizer),
    };
    if (row.accumulated) state.accumulated = new Uint8Array(row.accumulated);
    return state;
  }

  /** Up to `limit` metric rows of a run after `afterStep`, by step ascending (fields never recorded left out). */
  metrics(runId: string, afterStep: number, limit: number): Metric[] {
    const rows = this.#sql.metricsPage.all(runId, afterStep, limit) as Record<string, number | string | null>[];
    return rows.map((row) => Object.fromEntries(Object.entries(row).filter(([, value]) => value !== null)) as unknown as Metric);
  }

  /**
   * Sets the evaluation figures of the metric row at `step` (overwriting earlier ones).
   * @returns false when the run has no row at that step (step 0, or a step a restore dropped).
   */
  recordEval(runId: string, step: number, evalLoss: number, evalTokenAccuracy: number): boolean {
    try {
      return this.#sql.recordEval.run(evalLoss, evalTokenAccuracy, runId, step).changes > 0;
    } catch (error) {
      throw asInfrastructureError(error);
    }
  }

  /** The idempotency record stored under `scope`, with the run it belongs to. */
  findIdempotency(scope: string): (IdempotencyRecord & { run_id: string }) | undefined {
    const row = this.#sql.getIdempotency.get(scope) as { run_id: string; request_hash: string; status: number; body: string; created_at: number } | undefined;
    if (!row) return undefined;
    return { run_id: row.run_id, request_hash: row.request_hash, status: row.status, body: JSON.parse(row.body) as unknown, created_at: row.created_at };
  }

  /**
   * Forgets a run: its rows go in one transaction (metrics, checkpoints and records cascade),
   * then its directory is moved aside and deleted. A crash after the commit leaves a directory
   * no row names, which the next open removes.
   */
  async remove(runId: string): Promise<void> {
    checkRunId(runId);
    try {
      this.#sql.deleteRun.run(runId);
    } catch (error) {
      throw asInfrastructureError(error);
    }
    this.#runs.delete(runId);
    const trash = path.join(this.dataDir, "trash");
    await mkdir(trash, { recursive: true });
    const aside = path.join(trash, `${runId}-${randomBytes(4).toString("hex")}`);
    try {
      await rename(this.#runDir(runId), aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // never checkpointed
      throw error;
    }
    await rm(aside, { recursive: true, force: true });
  }

  /**
   * Writes a checkpoint's files into a new directory of their own and makes them durable. Nothing
   * lists it until the returned record is committed (`commit` with `checkpoint`); a checkpoint
   * already at that step stays whole until then.
   */
  async writeCheckpoint(
    runId: string,
    step: number,
    mode: CheckpointRecord["mode"],
    createdAt: string,
    files: Record<string, Uint8Array | string>,
  ): Promise<CheckpointRecord> {
    const parent = path.join(this.#runDir(runId), "checkpoints");
    await mkdir(parent, { recursive: true });
    const dir = `${step}-${randomBytes(6).toString("hex")}`;
    const target = path.join(parent, dir);
    await mkdir(target);
    let size = 0;
    for (const [name, data] of Object.entries(files)) {
      await writeFileDurable(path.join(target, name), data);
      size += typeof data === "string" ? Buffer.byteLength(data) : data.length;
    }
    await syncDir(target);
    await syncDir(parent);
    await syncDir(this.#runDir(runId));
    return { step, mode, size_bytes: size, created_at: createdAt, dir };
  }

  /** One file of a listed checkpoint. @throws the file-system error (ENOENT) when it is gone. */
  readCheckpointFile(runId: string, step: number, name: string): Promise<Buffer> {
    const checkpoint = this.#runs.get(runId)?.checkpoints.find((c) => c.step === step);
    if (!checkpoint) return Promise.reject(Object.assign(new Error(`no checkpoint ${runId}@${step}`), { code: "ENOENT" }));
    return readFile(path.join(this.#checkpointDir(runId, checkpoint.dir), name));
  }

  #putIdempotency(runId: string, scope: string, record: IdempotencyRecord): void {
    this.#sql.putIdempotency.run(scope, runId, record.request_hash, record.status, JSON.stringify(record.body), record.created_at);
    this.#sql.pruneOld.run(runId, record.created_at - IDEMPOTENCY_DEFAULTS.retentionMs);
    this.#sql.pruneExcess.run({ run_id: runId, keep: IDEMPOTENCY_DEFAULTS.maxPerRun - 1 });
  }

  #loadHeaders(): void {
    for (const row of this.#sql.allRuns.all() as { run_id: string; owner: string; header: string }[]) {
      this.#runs.set(row.run_id, { run_id: row.run_id, owner: row.owner, checkpoints: [], ...(JSON.parse(row.header) as Header) });
    }
    for (const row of this.#sql.allCheckpoints.all() as (CheckpointRecord & { run_id: string })[]) {
      const { run_id, expires_at, ...checkpoint } = row;
      this.#runs.get(run_id)?.checkpoints.push(expires_at == null ? checkpoint : { ...checkpoint, expires_at });
    }
  }

  /**
   * One directory under `runs/`: a run of the state-file format is migrated; a directory no run
   * owns (an interrupted create or delete) is removed; inside a run's, checkpoint directories no
   * row lists (an interrupted save, a replaced copy) and temporary files are removed.
   */
  async #openRunDir(runId: string, warn: (message: string) => void): Promise<void> {
    const dir = this.#runDir(runId);
    const legacy = path.join(dir, LEGACY_STATE_FILE);
    const hasLegacy = await stat(legacy).then(
      () => true,
      () => false,
    );
    if (hasLegacy && !this.#runs.has(runId)) {
      try {
        this.#migrate(runId, await readFile(legacy));
      } catch (error) {
        warn(`run ${runId} is in the earlier state-file format and could not be migrated (${(error as Error).message}); it is left untouched in ${dir}`);
        return;
      }
    }
    if (hasLegacy) await rm(legacy, { force: true });
    const record = this.#runs.get(runId);
    if (!record) {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    for (const name of await readdir(dir)) {
      if (isTempName(name)) await rm(path.join(dir, name), { force: true });
    }
    const listed = new Set(record.checkpoints.map((c) => c.dir));
    const checkpoints = path.join(dir, "checkpoints");
    for (const name of await readdir(checkpoints).catch(() => [] as string[])) {
      if (!listed.has(name)) await rm(path.join(checkpoints, name), { recursive: true, force: true });
    }
  }

  /** Moves a run of the state-file format into the database (its checkpoint directories stay). */
  #migrate(runId: string, bytes: Buffer): void {
    const { meta, blobs } = decodeStateFile(bytes);
    const old = meta as LegacyRunRecord;
    if (old.run_id !== runId) throw new Error(`its state file names run ${String(old.run_id)}`);
    if (!blobs.adapter || !blobs.optimizer) throw new Error("its state file lacks tensors");
    const { metrics, idempotency, checkpoints, ...rest } = old;
    const record: RunRecord = { ...rest, checkpoints: checkpoints.map((c) => ({ ...c, dir: String(c.step) })) };
    const state: RunState = { step: record.current_step, adapter: blobs.adapter, adapter_config: record.adapter_config, optimizer: blobs.optimizer };
    if (blobs.accumulated) state.accumulated = blobs.accumulated;
    this.importRun(record, state, { metrics, idempotency: Object.entries(idempotency ?? {}) });
  }

  #runDir(runId: string): string {
    checkRunId(runId);
    return path.join(this.dataDir, "runs", runId);
  }

  #checkpointDir(runId: string, dir: string): string {
    if (!/^\d+(-[0-9a-f]{12})?$/.test(dir)) throw new Error("invalid checkpoint directory");
    return path.join(this.#runDir(runId), "checkpoints", dir);
  }
}

/** A run record of the state-file format: metrics and idempotency records inside the header. */
type LegacyRunRecord = Omit<RunRecord, "checkpoints"> & {
  metrics: Metric[];
  idempotency?: Record<string, IdempotencyRecord>;
  checkpoints: Omit<CheckpointRecord, "dir">[];
};

/** A metric as `insertMetric` binds it: every column named, the ones not recorded null. */
function metricRow(runId: string, metric: Metric): Record<string, unknown> {
  return { token_accuracy: null, eval_loss: null, eval_token_accuracy: null, ...metric, run_id: runId };
}

/** A checkpoint as `putCheckpoint` binds it (one that never expires has a null `expires_at`). */
function checkpointRow(runId: string, checkpoint: CheckpointRecord): Record<string, unknown> {
  return { ...checkpoint, expires_at: checkpoint.expires_at ?? null, run_id: runId };
}

function headerOf(record: RunRecord): Header {
  const { run_id: _id, owner: _owner, checkpoints: _checkpoints, ...header } = record;
  return header;
}

/** Ids come from records this server created, but a path or row is only ever made from a valid id. */
function checkRunId(runId: string): void {
  if (!RUN_ID_PATTERN.test(runId)) throw new Error("invalid run id");
}
