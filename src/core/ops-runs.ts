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
import type { APIPromise } from "./api-promise.js";
import { validateInput, type Api } from "./api.js";
import type { RequestOptions } from "./transport.js";

/** Query of `listRuns`: page size (1..100, default 20) and the cursor to resume after. */
export interface ListRunsQuery {
  /** Page size. @default 20 (max 100) */
  limit?: number | undefined;
  /** The `next_cursor` of an earlier page: the list resumes after it. */
  after?: string | undefined;
}

export function checkRunId(operation: string, runId: string): string {
  return validateInput(operation, zRunId, runId, "run_id");
}

export function getHealth(api: Api, options?: RequestOptions): APIPromise<Health> {
  return api.call("getHealth", zGetHealthResponse, (init) => api.raw.GET("/v1/health", init), options);
}

export function listModels(api: Api, options?: RequestOptions): APIPromise<ModelList> {
  return api.call("listModels", zListModelsResponse, (init) => api.raw.GET("/v1/models", init), options);
}

export function createRun(api: Api, body: CreateRunRequest, options?: RequestOptions): APIPromise<Run> {
  return api.call(
    "createRun",
    zCreateRunResponse,
    (init) => {
      validateInput("createRun", zCreateRunBody, body);
      return api.raw.POST("/v1/runs", { ...init, body });
    },
    options,
  );
}

export function getRun(api: Api, runId: string, options?: RequestOptions): APIPromise<Run> {
  return api.call(
    "getRun",
    zGetRunResponse,
    (init) => {
      checkRunId("getRun", runId);
      return api.raw.GET("/v1/runs/{run_id}", { ...init, params: { path: { run_id: runId } } });
    },
    options,
  );
}

export function listRunsPage(api: Api, query: ListRunsQuery, options?: RequestOptions): APIPromise<RunList> {
  return api.call(
    "listRuns",
    zListRunsResponse,
    (init) => {
      const checked = definedOnly(query);
      validateInput("listRuns", zListRunsQuery, checked);
      return api.raw.GET("/v1/runs", { ...init, params: { query: checked } });
    },
    options,
  );
}

export function deleteRun(api: Api, runId: string, options?: RequestOptions): APIPromise<RunDeleted> {
  return api.call(
    "deleteRun",
    zDeleteRunResponse,
    (init) => {
      checkRunId("deleteRun", runId);
      return api.raw.DELETE("/v1/runs/{run_id}", { ...init, params: { path: { run_id: runId } } });
    },
    options,
  );
}

/** The object without its `undefined` fields (an `after: undefined` is no cursor, not a bad one). */
export function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
