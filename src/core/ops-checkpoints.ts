import type { Checkpoint, CheckpointDeleted, CheckpointList, CreateCheckpointRequest, RestoreResponse } from "../../generated/schema.js";
import {
  zCreateCheckpointBody,
  zCreateCheckpointResponse,
  zDeleteCheckpointResponse,
  zGetCheckpointResponse,
  zListCheckpointsQuery,
  zListCheckpointsResponse,
  zRestoreCheckpointBody,
  zRestoreCheckpointResponse,
  zStepPath,
} from "../../generated/zod/zod.gen.js";
import { APIResponseValidationError } from "../errors.js";
import { APIPromise } from "./api-promise.js";
import { validateInput, type Api } from "./api.js";
import { checkRunId, definedOnly } from "./ops-runs.js";
import type { RequestOptions } from "./transport.js";

/** Query of one page of `listCheckpoints`. */
export interface ListCheckpointsQuery {
  /** Page size. @default 100 (max 1000) */
  limit?: number | undefined;
  /** The `next_cursor` of an earlier page: the list resumes after it. */
  after?: string | undefined;
}

function checkStep(operation: string, step: number): void {
  validateInput(operation, zStepPath, step, "step");
}

export function createCheckpoint(api: Api, runId: string, body: CreateCheckpointRequest = {}, options?: RequestOptions): APIPromise<Checkpoint> {
  return api.call(
    "createCheckpoint",
    zCreateCheckpointResponse,
    (init) => {
      checkRunId("createCheckpoint", runId);
      validateInput("createCheckpoint", zCreateCheckpointBody, body);
      return api.raw.POST("/v1/runs/{run_id}/checkpoints", { ...init, params: { path: { run_id: runId } }, body });
    },
    options,
  );
}

export function listCheckpointsPage(api: Api, runId: string, query: ListCheckpointsQuery, options?: RequestOptions): APIPromise<CheckpointList> {
  return api.call(
    "listCheckpoints",
    zListCheckpointsResponse,
    (init) => {
      checkRunId("listCheckpoints", runId);
      const checked = definedOnly(query);
      validateInput("listCheckpoints", zListCheckpointsQuery, checked);
      return api.raw.GET("/v1/runs/{run_id}/checkpoints", { ...init, params: { path: { run_id: runId }, query: checked } });
    },
    options,
  );
}

export function getCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): APIPromise<Checkpoint> {
  return api.call(
    "getCheckpoint",
    zGetCheckpointResponse,
    (init) => {
      checkRunId("getCheckpoint", runId);
      checkStep("getCheckpoint", step);
      return api.raw.GET("/v1/runs/{run_id}/checkpoints/{step}", { ...init, params: { path: { run_id: runId, step } } });
    },
    options,
  );
}

export function deleteCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): APIPromise<CheckpointDeleted> {
  return api.call(
    "deleteCheckpoint",
    zDeleteCheckpointResponse,
    (init) => {
      checkRunId("deleteCheckpoint", runId);
      checkStep("deleteCheckpoint", step);
      return api.raw.DELETE("/v1/runs/{run_id}/checkpoints/{step}", { ...init, params: { path: { run_id: runId, step } } });
    },
    options,
  );
}

export function restoreCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): APIPromise<RestoreResponse> {
  return api.call(
    "restoreCheckpoint",
    zRestoreCheckpointResponse,
    (init) => {
      checkRunId("restoreCheckpoint", runId);
      const body = { step };
      validateInput("restoreCheckpoint", zRestoreCheckpointBody, body);
      return api.raw.POST("/v1/runs/{run_id}/restore", { ...init, params: { path: { run_id: runId } }, body });
    },
    options,
  );
}

/** The adapter's safetensors bytes. */
export function downloadCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): APIPromise<Uint8Array> {
  const raw = api.send(
    "downloadCheckpoint",
    (init) => {
      checkRunId("downloadCheckpoint", runId);
      checkStep("downloadCheckpoint", step);
      return api.raw.GET("/v1/runs/{run_id}/checkpoints/{step}/content", { ...init, params: { path: { run_id: runId, step } }, parseAs: "arrayBuffer" });
    },
    options,
  );
  return new APIPromise(raw, ({ data, requestId }) => {
    if (!(data instanceof ArrayBuffer)) {
      throw new APIResponseValidationError("downloadCheckpoint", "", "expected safetensors bytes", requestId);
    }
    return new Uint8Array(data);
  });
}
