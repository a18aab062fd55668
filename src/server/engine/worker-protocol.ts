import type { EngineCore, HfCompute } from "./engine-core.js";
import type { HfModelSource } from "./hf/hf-checkpoint.js";
import type { TokenEvent } from "./types.js";

/** The EngineCore methods a worker serves (`sample` goes to `submitSample`, with hooks). */
export const WORKER_METHODS = [
  "createRun",
  "loadRun",
  "dropRun",
  "forwardBackward",
  "optimStep",
  "trainStep",
  "forward",
  "zeroGrad",
  "exportState",
  "exportAdapter",
  "loadAdapter",
  "unloadAdapter",
  "sample",
  "embeddings",
  "heldModels",
] as const satisfies readonly (keyof EngineCore)[];

export type WorkerMethod = (typeof WORKER_METHODS)[number];
/** What `method` takes and returns on the worker's EngineCore, so a call is typed end to end. */
export type WorkerArgs<M extends WorkerMethod> = Parameters<EngineCore[M]>;
export type WorkerResult<M extends WorkerMethod> = ReturnType<EngineCore[M]>;

/** Main thread → worker: call `method` of the worker's EngineCore with `args`. */
export interface WorkerRequest<M extends WorkerMethod = WorkerMethod> {
  id: number;
  method: M;
  args: WorkerArgs<M>;
  /** Sampling only: an Int32Array(1) over shared memory; 1 means abort. */
  abortFlag?: SharedArrayBuffer;
  /** Sampling only: an Int32Array(1) over shared memory; 1 while the consumer wants no tokens (see SampleFlow). */
  pauseFlag?: SharedArrayBuffer;
  /** Sampling only: stream token events back. */
  stream?: boolean;
}

/** A thrown error, as plain data. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  param?: string;
  stack?: string;
}

/** Worker → main thread. */
export type WorkerMessage =
  | { kind: "ready" }
  | { kind: "init_failed"; error: WireError }
  | { kind: "token"; id: number; event: TokenEvent }
  | { kind: "result"; id: number; value: unknown }
  | { kind: "error"; id: number; error: WireError };

/** What a worker is started with. */
export interface WorkerData {
  /** KV-cache budget of its sample requests (see `SampleBatcher`). */
  kvBudgetBytes?: number;
  /** How much nicer than the process the thread runs (see `EngineOptions.workerNice`). */
  nice?: number;
  /** Checkpoint folders to serve, each with its id (checked on the main thread already). */
  models?: HfModelSource[];
  /** See `EngineOptions.hfCompute`. */
  hfCompute?: HfCompute;
}
