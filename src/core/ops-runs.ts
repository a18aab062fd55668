import type { CreateRunRequest, Health, ModelList, Run, RunDeleted, RunList } from "../../generated/schema.js";
import {
  zCreateRunBody,
  zCreateRunResponse,
  zDeleteRunResponse,
  zGetHealthResponse,
  zGetRunResponse,
  zListModelsResponse,
  zListRunsQuery,
  zListRunsResponse,
  zRunId,
} from "../../generated/zod/zod.gen.js";
import { validateInput, type Api } from "./api.js";
import type { WithRequestId } from "./request-id.js";
import type { RequestOptions } from "./transport.js";

/** Query of `listRuns`: page size (1..100, default 20) and the cursor of the previous page. */
export interface ListRunsQuery {
  limit?: number;
  after?: string;
}

export function checkRunId(operation: string, runId: string): string {
  return validateInput(operation, zRunId, runId, "run_id");
}

export async function getHealth(api: Api, options?: RequestOptions): Promise<WithRequestId<Health>> {
  return api.call("getHealth", zGetHealthResponse, (init) => api.raw.GET("/v1/health", init), options);
}

export async function listModels(api: Api, options?: RequestOptions): Promise<WithRequestId<ModelList>> {
  return api.call("listModels", zListModelsResponse, (init) => api.raw.GET("/v1/models", init), options);
}

export async function createRun(api: Api, body: CreateRunRequest, options?: RequestOptions): Promise<WithRequestId<Run>> {
  validateInput("createRun", zCreateRunBody, body);
  return api.call("createRun", zCreateRunResponse, (init) => api.raw.POST("/v1/runs", { ...init, body }), options);
}

export async function getRun(api: Api, runId: string, options?: RequestOptions): Promise<WithRequestId<Run>> {
  checkRunId("getRun", runId);
  const params = { path: { run_id: runId } };
  return api.call("getRun", zGetRunResponse, (init) => api.raw.GET("/v1/runs/{run_id}", { ...init, params }), options);
}

export async function listRunsPage(api: Api, query: ListRunsQuery, options?: RequestOptions): Promise<WithRequestId<RunList>> {
  validateInput("listRuns", zListRunsQuery, query);
  const params = { query };
  return api.call("listRuns", zListRunsResponse, (init) => api.raw.GET("/v1/runs", { ...init, params }), options);
}

export async function deleteRun(api: Api, runId: string, options?: RequestOptions): Promise<WithRequestId<RunDeleted>> {
  checkRunId("deleteRun", runId);
  const params = { path: { run_id: runId } };
  return api.call("deleteRun", zDeleteRunResponse, (init) => api.raw.DELETE("/v1/runs/{run_id}", { ...init, params }), options);
}
