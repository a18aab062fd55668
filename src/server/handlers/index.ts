import type { Handlers } from "../context.js";
import { createCheckpoint, deleteCheckpoint, downloadCheckpoint, getCheckpoint, listCheckpoints, restoreCheckpoint, setCheckpointTtl } from "./checkpoints.js";
import { importAdapter } from "./import-adapter.js";
import { createChatCompletion } from "./chat-completions.js";
import { createCompletion } from "./completions.js";
import { forward } from "./forward.js";
import { createEmbeddings, sample } from "./inference.js";
import { detokenize, tokenize } from "./tokens.js";
import { getHealth, listModels } from "./meta.js";
import { createRun, deleteRun, getRun, listRuns, updateRun } from "./run-handlers.js";
import { forwardBackward, listMetrics, optimStep, trainStep, zeroGrad } from "./training.js";
import { watchRun } from "./watch-run.js";

/** operationId → handler: every operation of the spec (the compiler checks none is missing). */
export const HANDLERS: Handlers = {
  getHealth,
  listModels,
  createRun,
  listRuns,
  getRun,
  updateRun,
  deleteRun,
  watchRun,
  forwardBackward,
  optimStep,
  trainStep,
  zeroGrad,
  forward,
  tokenize,
  detokenize,
  listMetrics,
  createCheckpoint,
  listCheckpoints,
  getCheckpoint,
  downloadCheckpoint,
  deleteCheckpoint,
  setCheckpointTtl,
  restoreCheckpoint,
  importAdapter,
  sample,
  createEmbeddings,
  createCompletion,
  createChatCompletion,
};
