import { OPERATIONS, type OperationId } from "../../generated/operations.js";
import { zBatch } from "../../generated/zod/zod.gen.js";

/**
 * How admission treats an operation:
 * - `engine`: it computes on the engine or waits for a run's queue. Admission bounds it (per
 *   key, per run, in all) before its body is read, and the engine serves the keys with work
 *   waiting in turn, so one key's backlog delays another key's call by about one call.
 * - `free`: it answers from memory, a small file or the tokenizer, in time bounded by its body;
 *   it is never refused for load.
 */
export type AdmissionClass = "engine" | "free";

/** What the server needs to know of an operation beyond what the spec says. */
export interface OperationTraits {
  /** Derived from the spec by `admissionClass`. */
  readonly admission: AdmissionClass;
  /**
   * A POST that changes a run: its idempotency record is committed with the change. The other
   * POSTs have no side effects, and their records live in memory only (`MemoryReplays`), so
   * they cost no disk write. Meaningless for GET and DELETE, which carry no Idempotency-Key.
   */
  readonly changesRun: boolean;
  /**
   * Its body carries a `batch` of training examples (the spec's `Batch`), whose token arrays
   * `checkCheapLimits` bounds before validation. Derived from the body's generated schema.
   */
  readonly trainingBatch: boolean;
}

/**
 * The admission class of an operation, from the spec: a POST is `engine` work unless it is
 * tagged `meta` (tokenize, detokenize: the tokenizer on the server's thread); a GET or DELETE
 * is `free`. So an operation a later spec adds is admitted like its kind without anyone
 * remembering to list it.
 */
function admissionClass(operation: { readonly method: string; readonly tags: readonly string[] }): AdmissionClass {
  return operation.method === "POST" && !operation.tags.includes("meta") ? "engine" : "free";
}

/**
 * The one trait the spec cannot say: whether a POST changes its run. A new operation of the
 * spec is a compile error here until it is given its own.
 */
const CHANGES_RUN: { readonly [Op in OperationId]: boolean } = {
  getHealth: false,
  listModels: false,
  listRuns: false,
  createRun: true,
  getRun: false,
  updateRun: false,
  deleteRun: false,
  watchRun: false,
  forwardBackward: true,
  optimStep: true,
  trainStep: true,
  zeroGrad: true,
  listMetrics: false,
  listCheckpoints: false,
  createCheckpoint: true,
  getCheckpoint: false,
  deleteCheckpoint: false,
  setCheckpointTtl: false,
  importAdapter: true,
  downloadCheckpoint: false,
  forward: false,
  tokenize: false,
  detokenize: false,
  restoreCheckpoint: true,
  sample: false,
  createEmbeddings: false,
  createCompletion: false,
  createChatCompletion: false,
};

function hasBatch(body: unknown): boolean {
  const shape = (body as { def?: { shape?: Record<string, unknown> } } | undefined)?.def?.shape;
  return shape?.batch === zBatch;
}

/** Every operation's traits. */
export const OPERATION_TRAITS = Object.fromEntries(
  (Object.keys(OPERATIONS) as OperationId[]).map((id) => {
    const operation = OPERATIONS[id];
    const traits: OperationTraits = { admission: admissionClass(operation), changesRun: CHANGES_RUN[id], trainingBatch: hasBatch(operation.body) };
    return [id, traits];
  }),
) as { readonly [Op in OperationId]: OperationTraits };
