import { Worker } from "node:worker_threads";
import { BYTE_CODEC, type TokenCodec } from "./codec.js";
import type { HfCompute } from "./engine-core.js";
import { CheckpointError } from "./hf/checkpoint-error.js";
import { ORT_INSTALL_HINT, ortAvailable } from "./hf/ort-matmul.js";
import { type HfCheckpoint, type HfModelSource, inspectCheckpoint } from "./hf/hf-checkpoint.js";
import { MODEL_CONFIGS, listModels } from "./models.js";
import {
  type Engine,
  EngineError,
  type EngineErrorCode,
  type Example,
  type ForwardBackwardResult,
  type ForwardResult,
  type LossSpec,
  type ModelInfo,
  type OptimStepOptions,
  type OptimStepResult,
  type Prompt,
  type RunConfig,
  type RunState,
  type SampleParams,
  type SampleFlow,
  type SampleResult,
  type TokenEvent,
  type TrainStepResult,
  type WeightsRef,
} from "./types.js";
import { FairDispatch } from "./fair-dispatch.js";
import { currentTenant } from "./tenant.js";
import type { WireError, WorkerArgs, WorkerData, WorkerMessage, WorkerMethod, WorkerRequest, WorkerResult } from "./worker-protocol.js";

/** Options of `createEngine`. */
export interface EngineOptions {
  /**
   * Worker threads. Each holds one single-threaded wasm instance, so one per core pays;
   * runs and adapters are spread over them and pinned. @default 2
   */
  workers?: number;
  /**
   * KV-cache memory per worker for the sample requests decoding at once. A larger request is
   * decoded in waves that fit (same seeded output); one whose `n` sequences of a single prompt
   * cannot fit is refused (`sample_too_large`). @default 268 435 456 (256 MiB)
   */
  kvBudgetBytes?: number;
  /**
   * How much nicer than the process the worker threads run (Linux; ignored elsewhere): above 0
   * they yield to the calling thread when the cores are contended, so a server's requests (getHealth among them)
   * are answered promptly while the engine is busy. 0 leaves them as they are. @default 5
   */
  workerNice?: number;
  /**
   * Hugging Face checkpoint folders to serve next to the built-in models (Llama, Mistral, Qwen2,
   * Qwen3). Each is checked before any worker starts. A checkpoint lives on one worker (the
   * first on worker 0, the next on worker 1, ...), which reads its tokenizer and weights, once,
   * and computes every run, adapter and sample of it, with ONNX Runtime's threads on every core
   * for its products: the base weights are held once per process, never once per worker.
   */
  models?: HfModelSource[];
  /**
   * The path checkpoint models compute on (see `EngineCoreOptions.hfCompute`): with `auto`, the
   * fast one when `onnxruntime-node` is installed; without it a process warning says what to
   * install. @default "auto"
   */
  hfCompute?: HfCompute;
}

/** The defaults of `EngineOptions`, documented there (`kvBudgetBytes`: `DEFAULT_KV_BUDGET_BYTES`). */
export const ENGINE_DEFAULTS = {
  workers: 2,
  workerNice: 5,
} as const;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onToken: ((e: TokenEvent) => void) | undefined;
  /** Its answer lets the worker's next blocking call go (see `FairDispatch`). */
  blocking: boolean;
}

interface Slot {
  worker: Worker;
  /** Calls made and not answered, posted or still waiting their tenant's turn. */
  pending: Map<number, Pending>;
  dispatch: FairDispatch;
  pinned: number;
  /** Sequences (prompts × n) of sample calls in flight on this worker, and those calls. */
  sampling: number;
  sampleCalls: number;
}

/** A live run's weights at one version, copied to another worker for sampling. */
interface Replica {
  version: number;
  slot: Slot;
  key: string;
  /** Settles once the copy is loaded there (rejects if it could not be made). */
  ready: Promise<void>;
  /** Sample calls routed to it and not yet answered. */
  users: number;
  stale: boolean;
}

/** A pending training or state call counts as this many sequences of sampling work when routing. */
const CALL_WEIGHT = 32;

function fromWire(e: WireError): Error {
  if (e.name === "EngineError" && e.code) return new EngineError(e.code as EngineErrorCode, e.message, e.param);
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/**
 * Under tsx/vitest this module is the .ts source, which a bare Worker cannot load, and Node 20
 * does not apply `--import tsx` from a worker's execArgv to its entry module; so the worker
 * starts from a tiny script that registers tsx's loader in the thread, then imports the source.
 */
function spawn(workerData: WorkerData): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    const entry = new URL("./worker.ts", here).href;
    const boot = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, execArgv: [...workerExecArgv(), "--import", "tsx"], workerData });
  }
  return new Worker(new URL("./worker.js", here), { execArgv: workerExecArgv(), workerData });
}

/** The process's flags minus those a Worker refuses (ERR_WORKER_INVALID_EXEC_ARGV), e.g. `--expose-gc`. */
function workerExecArgv(): string[] {
  return process.execArgv.filter((flag) => !/^--(expose[-_]gc|max[-_]old[-_]space[-_]size|cpu[-_]prof|heap[-_]prof)/.test(flag));
}

/**
 * Starts the engine's worker threads and waits until each has loaded tfjs.
 * @throws Error naming `npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0`
 *   when tfjs cannot be loaded (the workers are stopped first).
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const count = Math.max(1, options.workers ?? ENGINE_DEFAULTS.workers);
  const checkpoints = new Map<string, HfCheckpoint>();
  for (const source of options.models ?? []) {
    const c = inspectCheckpoint(source);
    if (checkpoints.has(c.id) || MODEL_CONFIGS.has(c.id))
      throw new CheckpointError(`two models have the id ${JSON.stringify(c.id)}; name them with --model ID=DIR`);
    checkpoints.set(c.id, c);
  }
  if (checkpoints.size > 0 && (options.hfCompute ?? "auto") === "auto" && !ortAvailable()) {
    process.emitWarning(
      `Hugging Face checkpoints compute on the slow path (tfjs wasm, ~10x slower to train): for the fast path, ${ORT_INSTALL_HINT}`,
      "FrontierSignalEngine",
    );
  }
  const models: HfModelSource[] = [...checkpoints.values()].map((c) => ({ path: c.dir, id: c.id, contextLength: c.info.context_length }));
  // Worker i is the home of checkpoints i, i + count, ...
  const homeOf = new Map(models.map((m, i) => [m.id!, i % count]));
  const slots: Slot[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, index) => {
        const worker = spawn({
          nice: options.workerNice ?? ENGINE_DEFAULTS.workerNice,
          models: models.filter((m) => homeOf.get(m.id!) === index),
          ...(options.hfCompute === undefined ? {} : { hfCompute: options.hfCompute }),
          ...(options.kvBudgetBytes === undefined ? {} : { kvBudgetBytes: options.kvBudgetBytes }),
        });
        const slot: Slot = { worker, pending: new Map(), dispatch: new FairDispatch(), pinned: 0, sampling: 0, sampleCalls: 0 };
        slots[index] = slot;
        const onError = (e: Error) => fail(e);
        const onExit = (code: number) => fail(new Error(`engine worker exited with code ${code} while starting`));
        let fail: (e: Error) => void = () => {};
        let onMessage: (m: WorkerMessage) => void = () => {};
        try {
          await new Promise<void>((resolve, reject) => {
            fail = reject;
            onMessage = (m) => {
              if (m.kind === "ready") resolve();
              else if (m.kind === "init_failed") reject(fromWire(m.error));
            };
            worker.on("message", onMessage);
            worker.on("error", onError);
            worker.on("exit", onExit);
          });
        } finally {
          // Only our own listeners: Worker keeps internal ones (e.g. newListener) it relies on.
          worker.off("message", onMessage);
          worker.off("error", onError);
          worker.off("exit", onExit);
        }
      }),
    );
  } catch (e) {
    await Promise.all(slots.filter(Boolean).map((s) => s.worker.terminate()));
    throw e;
  }
  const homes = new Map([...homeOf].map(([id, i]) => [id, slots[i]!]));
  return new WorkerEngine(slots, checkpoints, homes);
}

/**
 * The Engine over worker threads; runs and adapters are pinned to a worker so their calls stay
 * ordered. A built-in model is on every worker; a checkpoint model only on its home worker.
 */
class WorkerEngine implements Engine {
  private nextId = 1;
  private readonly runs = new Map<string, Slot>();
  /**
   * Frozen adapters (checkpoints) by key, with the workers holding them: every worker that has
   * their base model, so sampling them can use every core where the base weights are.
   */
  private readonly adapters = new Map<string, Slot[]>();
  /**
   * Per live run: its config and a version that every call which may change its weights bumps
   * (when the call is made, so the order of calls decides which weights a sample sees).
   */
  private readonly live = new Map<string, { config: RunConfig; version: number }>();
  /** Per live run: its weights copied to another worker, so its samples can use that core too. */
  private readonly replicas = new Map<string, Replica>();
  private nextReplica = 1;
  private closed = false;

  constructor(
    private readonly slots: Slot[],
    private readonly checkpoints: ReadonlyMap<string, HfCheckpoint>,
    /** Each checkpoint model's worker. */
    private readonly homes: ReadonlyMap<string, Slot>,
  ) {
    for (const slot of slots) {
      slot.worker.on("message", (m: WorkerMessage) => this.onMessage(slot, m));
      slot.worker.on("error", (e) => this.failAll(slot, e));
      slot.worker.on("exit", (code) => this.failAll(slot, new Error(`engine worker exited with code ${code}`)));
      // Idle workers must not keep the process alive; `call` refs them while work is pending.
      slot.worker.unref();
    }
  }

  private onMessage(slot: Slot, m: WorkerMessage): void {
    if (m.kind === "token") {
      slot.pending.get(m.id)?.onToken?.(m.event);
      return;
    }
    if (m.kind !== "result" && m.kind !== "error") return;
    const p = slot.pending.get(m.id);
    if (!p) return;
    slot.pending.delete(m.id);
    if (slot.pending.size === 0) slot.worker.unref();
    if (p.blocking) slot.dispatch.done();
    if (m.kind === "result") p.resolve(m.value);
    else p.reject(fromWire(m.error));
  }

  private failAll(slot: Slot, e: Error): void {
    slot.dispatch.clear();
    for (const p of slot.pending.values()) p.reject(e);
    slot.pending.clear();
  }

  private call<M extends WorkerMethod>(
    slot: Slot,
    method: M,
    args: WorkerArgs<M>,
    extra: Partial<WorkerRequest> = {},
    onToken?: (e: TokenEvent) => void,
  ): Promise<WorkerResult<M>> {
    if (this.closed) return Promise.reject(new Error("engine is closed"));
    const id = this.nextId++;
    const blocking = method !== "sample";
    return new Promise<WorkerResult<M>>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onToken, blocking });
      // Posted in the caller's tenant's turn; a call failed meanwhile (the worker died) is not.
      slot.dispatch.submit(currentTenant(), blocking, () => {
        if (slot.pending.has(id)) slot.worker.postMessage({ ...extra, id, method, args } satisfies WorkerRequest<M>);
      });
    });
  }

  /**
   * The workers that hold a model: its home for a checkpoint, every worker for a built-in model
   * (and for an unknown id, whose call any worker refuses alike).
   */
  private servers(modelId: string): Slot[] {
    const home = this.homes.get(modelId);
    return home ? [home] : this.slots;
  }

  private pin(map: Map<string, Slot>, key: string, modelId: string): Slot {
    let slot = map.get(key);
    if (!slot) {
      slot = this.servers(modelId).reduce((best, s) => (s.pinned < best.pinned ? s : best));
      slot.pinned++;
      map.set(key, slot);
    }
    return slot;
  }

  private unpin(map: Map<string, Slot>, key: string): Slot | undefined {
    const slot = map.get(key);
    if (slot) {
      slot.pinned--;
      map.delete(key);
    }
    return slot;
  }

  private runSlot(runId: string): Slot {
    const slot = this.runs.get(runId);
    if (!slot) throw new EngineError("run_not_found", `run ${JSON.stringify(runId)} is not loaded`, "run_id");
    return slot;
  }

  /**
   * A live run's calls go to its worker (its state lives there, and they must stay ordered);
   * a frozen adapter is on every worker, so its calls go to the one with the least work queued.
   */
  private weightsSlot(ref: WeightsRef): Slot {
    if ("runId" in ref) return this.runSlot(ref.runId);
    const holders = this.adapters.get(ref.adapterKey);
    if (!holders) throw new EngineError("adapter_not_found", `adapter ${JSON.stringify(ref.adapterKey)} is not loaded`);
    return holders.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
  }

  listModels(): ModelInfo[] {
    return [...listModels(), ...[...this.checkpoints.values()].map((c) => structuredClone(c.info))];
  }

  codec(modelId: string): TokenCodec {
    if (MODEL_CONFIGS.has(modelId)) return BYTE_CODEC;
    const c = this.checkpoints.get(modelId);
    if (!c)
      throw new EngineError(
        "model_not_found",
        `model ${JSON.stringify(modelId)} does not exist; available: ${this.listModels()
          .map((m) => m.id)
          .join(", ")}`,
        "base_model",
      );
    return c.codec;
  }

  /** Marks a run's weights as changed by the call being made now; copies on other workers go stale. */
  private changed(runId: string, config?: RunConfig): void {
    const entry = this.live.get(runId);
    if (config) this.live.set(runId, { config, version: (entry?.version ?? 0) + 1 });
    else if (entry) entry.version++;
    const replica = this.replicas.get(runId);
    if (replica) {
      this.replicas.delete(runId);
      replica.stale = true;
      this.dropReplicaIfUnused(replica);
    }
  }

  private dropReplicaIfUnused(replica: Replica): void {
    if (!replica.stale || replica.users > 0) return;
    replica.ready.then(
      () => this.call(replica.slot, "unloadAdapter", [replica.key]).catch(() => {}),
      () => {},
    );
  }

  async createRun(runId: string, config: RunConfig): Promise<RunState> {
    this.changed(runId, config);
    const isNew = !this.runs.has(runId);
    const slot = this.pin(this.runs, runId, config.base_model);
    try {
      return await this.call(slot, "createRun", [runId, config]);
    } catch (e) {
      if (isNew) this.unpin(this.runs, runId);
      throw e;
    }
  }

  async loadRun(runId: string, config: RunConfig, state: RunState): Promise<void> {
    this.changed(runId, config);
    const isNew = !this.runs.has(runId);
    const slot = this.pin(this.runs, runId, config.base_model);
    try {
      await this.call(slot, "loadRun", [runId, config, state]);
    } catch (e) {
      if (isNew) this.unpin(this.runs, runId);
      throw e;
    }
  }

  async dropRun(runId: string): Promise<void> {
    this.changed(runId);
    this.live.delete(runId);
    const slot = this.unpin(this.runs, runId);
    if (slot) await this.call(slot, "dropRun", [runId]);
  }

  async forwardBackward(runId: string, batch: Example[], loss?: LossSpec): Promise<ForwardBackwardResult> {
    return this.call(this.runSlot(runId), "forwardBackward", [runId, batch, loss]);
  }

  async optimStep(runId: string, options: OptimStepOptions = {}): Promise<OptimStepResult> {
    this.changed(runId);
    return this.call(this.runSlot(runId), "optimStep", [runId, options]);
  }

  async trainStep(runId: string, batch: Example[], options: OptimStepOptions = {}, loss?: LossSpec): Promise<TrainStepResult> {
    this.changed(runId);
    return this.call(this.runSlot(runId), "trainStep", [runId, batch, options, loss]);
  }

  async forward(weights: WeightsRef, batch: Example[]): Promise<ForwardResult> {
    return this.call(this.weightsSlot(weights), "forward", [weights, batch]);
  }

  async zeroGrad(runId: string): Promise<void> {
    await this.call(this.runSlot(runId), "zeroGrad", [runId]);
  }

  async exportState(runId: string): Promise<RunState> {
    return this.call(this.runSlot(runId), "exportState", [runId]);
  }

  async loadAdapter(key: string, config: RunConfig, adapter: Uint8Array): Promise<void> {
    // Not visible to sample() until every worker that holds its base model has it.
    const previous = this.adapters.get(key);
    this.adapters.delete(key);
    const holders = this.servers(config.base_model);
    try {
      await Promise.all(holders.map((slot) => this.call(slot, "loadAdapter", [key, config, adapter])));
    } catch (e) {
      await Promise.allSettled([...new Set([...holders, ...(previous ?? [])])].map((slot) => this.call(slot, "unloadAdapter", [key])));
      throw e;
    }
    this.adapters.set(key, holders);
  }

  async unloadAdapter(key: string): Promise<void> {
    const holders = this.adapters.get(key);
    if (!holders) return;
    this.adapters.delete(key);
    await Promise.all(holders.map((slot) => this.call(slot, "unloadAdapter", [key])));
  }

  /**
   * Streams token events (as worker messages, so they arrive before the promise resolves).
   * Aborting via `signal` rejects with EngineError `aborted` (nothing partial is returned); the
   * worker notices between decoding steps.
   */
  async sample(
    weights: WeightsRef,
    prompts: Prompt[],
    params: SampleParams,
    options: { signal?: AbortSignal; onToken?: (event: TokenEvent) => void; flow?: SampleFlow } = {},
  ): Promise<SampleResult> {
    const { signal, onToken, flow } = options;
    // Routed and (unless it waits for a copy of the weights) posted before the first await, so
    // calls made after this one cannot overtake it on the run's worker.
    const route = this.sampleRoute(weights);
    const sequences = prompts.length * (params.n ?? 1);
    let slot = route.slot;
    slot.sampling += sequences;
    slot.sampleCalls++;
    let ref = weights;
    try {
      if (route.replica) {
        try {
          await route.replica.ready;
          ref = { adapterKey: route.replica.key };
        } catch {
          // The copy could not be made (e.g. the run was dropped meanwhile): the run's own worker answers.
          const runId = (weights as { runId: string }).runId;
          if (this.replicas.get(runId) === route.replica) this.replicas.delete(runId);
          slot.sampling -= sequences;
          slot.sampleCalls--;
          slot = this.runSlot(runId);
          slot.sampling += sequences;
          slot.sampleCalls++;
        }
      }
      if (signal?.aborted) throw new EngineError("aborted", "sampling was aborted");
      const abortFlag = signal ? new SharedArrayBuffer(4) : undefined;
      const onAbort = () => Atomics.store(new Int32Array(abortFlag!), 0, 1);
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        return await this.call(
          slot,
          "sample",
          [ref, prompts, params],
          { ...(abortFlag ? { abortFlag } : {}), ...(flow ? { pauseFlag: flow.buffer } : {}), stream: onToken !== undefined },
          onToken,
        );
      } finally {
        signal?.removeEventListener("abort", onAbort);
      }
    } finally {
      slot.sampling -= sequences;
      slot.sampleCalls--;
      if (route.replica) {
        route.replica.users--;
        this.dropReplicaIfUnused(route.replica);
      }
    }
  }

  /** How busy a worker is, in sequences of sampling work. */
  private load(slot: Slot): number {
    return slot.sampling + CALL_WEIGHT * Math.max(0, slot.pending.size - slot.sampleCalls);
  }

  /**
   * Where a sample call goes. A frozen adapter: the least busy worker. A live run: its own
   * worker, unless another one is less busy — then a copy of the run's weights as they are at
   * this call (exported from its worker after every call made before this one) is loaded there
   * once per version of the weights and sampled from; the next call that changes the weights
   * makes it stale. Requests on one worker are batched together, so the copy only pays when
   * the run's own worker already has work and another core is free for it.
   */
  private sampleRoute(weights: WeightsRef): { slot: Slot; replica?: Replica } {
    if (!("runId" in weights) || this.slots.length < 2) return { slot: this.weightsSlot(weights) };
    const runId = weights.runId;
    const home = this.runSlot(runId);
    const entry = this.live.get(runId);
    let replica = this.replicas.get(runId);
    // Only a worker holding the run's base model can take a copy.
    const others = entry ? this.servers(entry.config.base_model).filter((s) => s !== home) : [];
    if (!entry || others.length === 0) return { slot: home };
    const other = others.reduce((best, s) => (this.load(s) < this.load(best) ? s : best));
    const target = replica && replica.version === entry.version ? replica.slot : other;
    if (this.load(home) === 0 || this.load(target) >= this.load(home)) return { slot: home };
    if (!replica || replica.version !== entry.version) {
      const key = `live\u0000${runId}\u0000${this.nextReplica++}`;
      const exported = this.call(home, "exportAdapter", [runId]);
      const ready = exported.then((bytes) => this.call(target, "loadAdapter", [key, entry.config, bytes]));
      // A failed copy is handled by each sample that waits for it; nothing else awaits it.
      ready.catch(() => {});
      replica = { version: entry.version, slot: target, key, ready, users: 0, stale: false };
      this.replicas.set(runId, replica);
    }
    replica.users++;
    return { slot: replica.slot, replica };
  }

  async embeddings(weights: WeightsRef, inputs: string[]): Promise<number[][]> {
    return this.call(this.weightsSlot(weights), "embeddings", [weights, inputs]);
  }

  heldModels(): Promise<string[][]> {
    return Promise.all(this.slots.map((slot) => this.call(slot, "heldModels", [])));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const slot of this.slots) this.failAll(slot, new Error("engine is closed"));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
