import type { OperationId } from "../../generated/operations.js";

/** What the server needs to know of an operation beyond what the spec says. */
export interface OperationTraits {
  /**
   * It uses the engine or waits for a run's queue: admission bounds it. The rest answer from
   * memory or a small file read and are never refused for load.
   */
  readonly engineBound: boolean;
  /**
   * A POST that changes a run: its idempotency record is committed with the change. The other
   * POSTs have no side effects, and their records live in memory only (`MemoryReplays`), so
   * they cost no disk write. Meaningless for GET and DELETE, which carry no Idempotency-Key.
   */
  readonly changesRun: boolean;
  /** Its body is a batch of training examples, whose token arrays `checkCheapLimits` bounds before validation. */
  readonly trainingBatch: boolean;
}

const read = { engineBound: false, changesRun: false, trainingBatch: false } as const;
const engineRead = { engineBound: true, changesRun: false, trainingBatch: false } as const;
const change = { engineBound: true, changesRun: true, trainingBatch: false } as const;
const training = { engineBound: true, changesRun: true, trainingBatch: true } as const;

/** Every operation's traits: a new operation of the spec is a compile error here until it is given its own. */
export const OPERATION_TRAITS: { readonly [Op in OperationId]: OperationTraits } = {
  getHealth: read,
  listModels: read,
  listRuns: read,
  createRun: change,
  getRun: read,
  deleteRun: read,
  forwardBackward: training,
  optimStep: change,
  trainStep: training,
  zeroGrad: change,
  listMetrics: read,
  listCheckpoints: read,
  createCheckpoint: change,
  getCheckpoint: read,
  deleteCheckpoint: read,
  downloadCheckpoint: read,
  forward: read,
  tokenize: read,
  detokenize: read,
  restoreCheckpoint: change,
  sample: engineRead,
  createEmbeddings: engineRead,
  createCompletion: engineRead,
  createChatCompletion: engineRead,
};
