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
import { validateInput, type Api } from "./api.js";
import { checkRunId } from "./ops-runs.js";
import { attachRequestId, type WithRequestId } from "./request-id.js";
import type { RequestOptions } from "./transport.js";

/** Query of one page of `listCheckpoints`. */
export interface ListCheckpointsQuery {
  /** Page size. @default 100 (max 1000) */
  limit?: number;
  /** The `next_cursor` of the previous page. */
  after?: string;
}

function checkStep(operation: string, step: number): void {
  validateInput(operation, zStepPath, step, "step");
}

export async function createCheckpoint(api: Api, runId: string, body: CreateCheckpointRequest = {}, options?: RequestOptions): Promise<WithRequestId<Checkpoint>> {
  checkRunId("createCheckpoint", runId);
  validateInput("createCheckpoint", zCreateCheckpointBody, body);
  const params = { path: { run_id: runId } };
  return api.call("createCheckpoint", zCreateCheckpointResponse, (init) => api.raw.POST("/v1/runs/{run_id}/checkpoints", { ...init, params, body }), options);
}

export async function listCheckpointsPage(api: Api, runId: string, query: ListCheckpointsQuery, options?: RequestOptions): Promise<WithRequestId<CheckpointList>> {
  checkRunId("listCheckpoints", runId);
  validateInput("listCheckpoints", zListCheckpointsQuery, query);
  const params = { path: { run_id: runId }, query };
  return api.call("listCheckpoints", zListCheckpointsResponse, (init) => api.raw.GET("/v1/runs/{run_id}/checkpoints", { ...init, params }), options);
}

export async function getCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<Checkpoint>> {
  checkRunId("getCheckpoint", runId);
  checkStep("getCheckpoint", step);
  const params = { path: { run_id: runId, step } };
  return api.call("getCheckpoint", zGetCheckpointResponse, (init) => api.raw.GET("/v1/runs/{run_id}/checkpoints/{step}", { ...init, params }), options);
}

export async function deleteCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<CheckpointDeleted>> {
  checkRunId("deleteCheckpoint", runId);
  checkStep("deleteCheckpoint", step);
  const params = { path: { run_id: runId, step } };
  return api.call("deleteCheckpoint", zDeleteCheckpointResponse, (init) => api.raw.DELETE("/v1/runs/{run_id}/checkpoints/{step}", { ...init, params }), options);
}

export async function restoreCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<RestoreResponse>> {
  checkRunId("restoreCheckpoint", runId);
  const body = { step };
  validateInput("restoreCheckpoint", zRestoreCheckpointBody, body);
  const params = { path: { run_id: runId } };
  return api.call("restoreCheckpoint", zRestoreCheckpointResponse, (init) => api.raw.POST("/v1/runs/{run_id}/restore", { ...init, params, body }), options);
}

/** The adapter's safetensors bytes. */
export async function downloadCheckpoint(api: Api, runId: string, step: number, options?: RequestOptions): Promise<WithRequestId<Uint8Array>> {
  checkRunId("downloadCheckpoint", runId);
  checkStep("downloadCheckpoint", step);
  const params = { path: { run_id: runId, step } };
  const { data, response } = await api.send(
    "downloadCheckpoint",
    (init) => api.raw.GET("/v1/runs/{run_id}/checkpoints/{step}/content", { ...init, params, parseAs: "arrayBuffer" }),
    options,
  );
  const requestId = response.headers.get("x-request-id") ?? undefined;
  if (!(data instanceof ArrayBuffer)) {
    throw new APIResponseValidationError("downloadCheckpoint", "", "expected safetensors bytes", requestId);
  }
  return attachRequestId(new Uint8Array(data), requestId);
}
