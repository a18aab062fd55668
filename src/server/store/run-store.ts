import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { RunState } from "../engine/types.js";
import { isTempName, syncDir, writeFileAtomic, writeFileDurable } from "./atomic-write.js";
import { RUN_ID_PATTERN } from "./ids.js";
import type { RunRecord } from "./run-record.js";
import { STATE_PREFIX_BYTES, decodeStateFile, encodeStateFile, headerLength } from "./state-file.js";

const STATE_FILE = "state.bin";

/**
 * The runs on disk. Layout under `dataDir`:
 *
 * ```
 * runs/<run_id>/state.bin                        header (RunRecord) + adapter, optimizer, accumulator
 * runs/<run_id>/checkpoints/<step>/adapter_model.safetensors
 * runs/<run_id>/checkpoints/<step>/adapter_config.json
 * runs/<run_id>/checkpoints/<step>/optimizer.safetensors   (mode "state" only)
 * trash/                                         runs being deleted
 * ```
 *
 * Every change to a run is one atomic replacement of its `state.bin`, so a crash leaves the
 * previous or the next version, never a mix. Headers of all runs stay in memory; tensors are read
 * from disk only when a run is loaded into the engine. Callers serialise writes per run.
 */
export class RunStore {
  readonly #runs = new Map<string, RunRecord>();

  private constructor(readonly dataDir: string) {}

  /**
   * Opens (creating if needed) a data directory and reads every run's header. Unreadable run
   * directories are skipped and reported through `warn`, never fatal.
   */
  static async open(dataDir: string, warn: (message: string) => void = () => {}): Promise<RunStore> {
    const store = new RunStore(path.resolve(dataDir));
    await mkdir(path.join(store.dataDir, "runs"), { recursive: true });
    await rm(path.join(store.dataDir, "trash"), { recursive: true, force: true });
    for (const name of await readdir(path.join(store.dataDir, "runs"))) {
      if (!RUN_ID_PATTERN.test(name)) continue;
      try {
        const record = await store.#readHeader(name);
        store.#runs.set(name, record);
        await store.#removeLeftovers(name);
      } catch (error) {
        warn(`skipping run ${name}: ${(error as Error).message}`);
      }
    }
    return store;
  }

  get(runId: string): RunRecord | undefined {
    return this.#runs.get(runId);
  }

  all(): IterableIterator<RunRecord> {
    return this.#runs.values();
  }

  /**
   * Writes a run's state file atomically and makes `record` the run's current header.
   * @param state the tensors to store; omitted keeps the ones on disk.
   */
  async commit(record: RunRecord, state?: RunState): Promise<void> {
    const dir = this.#runDir(record.run_id);
    let blobs: Record<string, Uint8Array | undefined>;
    if (state) {
      blobs = { adapter: state.adapter, optimizer: state.optimizer, accumulated: state.accumulated };
    } else {
      blobs = decodeStateFile(await readFile(path.join(dir, STATE_FILE))).blobs;
    }
    if (!this.#runs.has(record.run_id)) await mkdir(path.join(dir, "checkpoints"), { recursive: true });
    await writeFileAtomic(path.join(dir, STATE_FILE), encodeStateFile(record, blobs));
    this.#runs.set(record.run_id, record);
  }

  /** The run's persisted tensors, as the engine's `loadRun` takes them. */
  async readState(runId: string): Promise<RunState> {
    const { meta, blobs } = decodeStateFile(await readFile(path.join(this.#runDir(runId), STATE_FILE)));
    const record = meta as RunRecord;
    if (!blobs.adapter || !blobs.optimizer) throw new Error(`state file of ${runId} lacks tensors`);
    const state: RunState = {
      step: record.current_step,
      adapter: blobs.adapter,
      adapter_config: record.adapter_config,
      optimizer: blobs.optimizer,
    };
    if (blobs.accumulated) state.accumulated = blobs.accumulated;
    return state;
  }

  /** Forgets a run and deletes its directory (moved aside first, so a crash cannot half-delete it). */
  async remove(runId: string): Promise<void> {
    this.#runs.delete(runId);
    const trash = path.join(this.dataDir, "trash");
    await mkdir(trash, { recursive: true });
    const aside = path.join(trash, `${runId}-${randomBytes(4).toString("hex")}`);
    await rename(this.#runDir(runId), aside);
    await syncDir(path.join(this.dataDir, "runs"));
    await rm(aside, { recursive: true, force: true });
  }

  /**
   * Writes a checkpoint's files into a fresh directory and renames it into place, replacing any
   * checkpoint at the same step. The run's header must be committed afterwards to list it.
   * @returns the total size of the files in bytes.
   */
  async writeCheckpoint(runId: string, step: number, files: Record<string, Uint8Array | string>): Promise<number> {
    const parent = path.join(this.#runDir(runId), "checkpoints");
    await mkdir(parent, { recursive: true });
    const target = path.join(parent, String(step));
    const temp = `${target}.tmp-${randomBytes(6).toString("hex")}`;
    await mkdir(temp);
    let size = 0;
    for (const [name, data] of Object.entries(files)) {
      await writeFileDurable(path.join(temp, name), data);
      size += typeof data === "string" ? Buffer.byteLength(data) : data.length;
    }
    await syncDir(temp);
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
    await syncDir(parent);
    return size;
  }

  /** One file of a checkpoint. @throws the file-system error when it is missing. */
  readCheckpointFile(runId: string, step: number, name: string): Promise<Buffer> {
    return readFile(path.join(this.#runDir(runId), "checkpoints", String(step), name));
  }

  /** Deletes a checkpoint's files (the header must be committed without it first). */
  async removeCheckpoint(runId: string, step: number): Promise<void> {
    await rm(path.join(this.#runDir(runId), "checkpoints", String(step)), { recursive: true, force: true });
  }

  #runDir(runId: string): string {
    // Ids come from records this server created, but a path is only ever built from a valid id.
    if (!RUN_ID_PATTERN.test(runId)) throw new Error("invalid run id");
    return path.join(this.dataDir, "runs", runId);
  }

  async #readHeader(runId: string): Promise<RunRecord> {
    const handle = await open(path.join(this.#runDir(runId), STATE_FILE), "r");
    try {
      const prefix = Buffer.alloc(STATE_PREFIX_BYTES);
      await handle.read(prefix, 0, STATE_PREFIX_BYTES, 0);
      const length = headerLength(prefix);
      const header = Buffer.alloc(length);
      const { bytesRead } = await handle.read(header, 0, length, STATE_PREFIX_BYTES);
      if (bytesRead !== length) throw new Error("truncated state file");
      return (JSON.parse(header.toString("utf8")) as { meta: RunRecord }).meta;
    } finally {
      await handle.close();
    }
  }

  /** Temporary files and checkpoint directories a crash left behind, and checkpoints no header lists. */
  async #removeLeftovers(runId: string): Promise<void> {
    const dir = this.#runDir(runId);
    for (const name of await readdir(dir)) {
      if (isTempName(name)) await rm(path.join(dir, name), { force: true });
    }
    const listed = new Set(this.#runs.get(runId)?.checkpoints.map((c) => String(c.step)));
    const checkpoints = path.join(dir, "checkpoints");
    const entries = await readdir(checkpoints).catch(() => [] as string[]);
    for (const name of entries) {
      if (!listed.has(name) && (await stat(path.join(checkpoints, name))).isDirectory()) {
        await rm(path.join(checkpoints, name), { recursive: true, force: true });
      }
    }
  }
}
