import { z } from "zod/mini";
import * as gen from "../../../generated/zod/zod.gen.js";
import type { OperationId } from "./routes.js";

/** The generated runtime schemas of one operation's inputs; absent parts take none. */
export interface OperationSchemas {
  path?: z.ZodMiniType;
  query?: z.ZodMiniType;
  body?: z.ZodMiniType;
  /** The body may be omitted (the spec's `requestBody.required: false`); it is then `{}`. */
  bodyOptional?: boolean;
}

const none = z.object({});

/**
 * operationId → the schemas generated from the spec. This is the only description of the inputs
 * the server has: there is no hand-written copy of the contract.
 */
export const OPERATION_SCHEMAS: Record<OperationId, OperationSchemas> = {
  getHealth: {},
  listModels: {},
  createRun: { body: gen.zCreateRunBody },
  listRuns: { query: gen.zListRunsQuery },
  getRun: { path: gen.zGetRunPath },
  deleteRun: { path: gen.zDeleteRunPath },
  forwardBackward: { path: gen.zForwardBackwardPath, body: gen.zForwardBackwardBody },
  optimStep: { path: gen.zOptimStepPath, body: gen.zOptimStepBody, bodyOptional: true },
  trainStep: { path: gen.zTrainStepPath, body: gen.zTrainStepBody },
  zeroGrad: { path: gen.zZeroGradPath, body: none, bodyOptional: true },
  forward: { path: gen.zForwardPath, body: gen.zForwardBody },
  tokenize: { path: gen.zTokenizePath, body: gen.zTokenizeBody },
  detokenize: { path: gen.zDetokenizePath, body: gen.zDetokenizeBody },
  listMetrics: { path: gen.zListMetricsPath, query: gen.zListMetricsQuery },
  createCheckpoint: { path: gen.zCreateCheckpointPath, body: gen.zCreateCheckpointBody, bodyOptional: true },
  listCheckpoints: { path: gen.zListCheckpointsPath, query: gen.zListCheckpointsQuery },
  getCheckpoint: { path: gen.zGetCheckpointPath },
  deleteCheckpoint: { path: gen.zDeleteCheckpointPath },
  downloadCheckpoint: { path: gen.zDownloadCheckpointPath },
  restoreCheckpoint: { path: gen.zRestoreCheckpointPath, body: gen.zRestoreCheckpointBody },
  sample: { path: gen.zSamplePath, body: gen.zSampleBody },
  createEmbeddings: { path: gen.zCreateEmbeddingsPath, body: gen.zCreateEmbeddingsBody },
  createCompletion: { body: gen.zCreateCompletionBody },
};

/** The schema of the `Idempotency-Key` header (printable ASCII, 1–255 characters). */
export const idempotencyKeySchema = gen.zIdempotencyKey;
