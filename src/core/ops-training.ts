import type {
  Batch,
  ForwardBackwardResult,
  MetricList,
  OptimStepRequest,
  OptimStepResult,
  TrainStepRequest,
  TrainStepResult,
  ZeroGradResult,
} from "../../generated/schema.js";
import {
  zForwardBackwardBody,
  zForwardBackwardResponse,
  zListMetricsQuery,
  zListMetricsResponse,
  zOptimStepBody,
  zOptimStepResponse,
  zTrainStepBody,
  zTrainStepResponse,
  zZeroGradResponse,
} from "../../generated/zod/zod.gen.js";
import type { APIPromise } from "./api-promise.js";
import { validateInput, type Api } from "./api.js";
import { checkRunId, definedOnly } from "./ops-runs.js";
import type { RequestOptions } from "./transport.js";

export function forwardBackward(api: Api, runId: string, batch: Batch, options?: RequestOptions): APIPromise<ForwardBackwardResult> {
  return api.call(
    "forwardBackward",
    zForwardBackwardResponse,
    (init) => {
      checkRunId("forwardBackward", runId);
      const body = { batch };
      validateInput("forwardBackward", zForwardBackwardBody, body);
      return api.raw.POST("/v1/runs/{run_id}/forward_backward", { ...init, params: { path: { run_id: runId } }, body });
    },
    options,
  );
}

export function optimStep(api: Api, runId: string, body: OptimStepRequest = {}, options?: RequestOptions): APIPromise<OptimStepResult> {
  return api.call(
    "optimStep",
    zOptimStepResponse,
    (init) => {
      checkRunId("optimStep", runId);
      validateInput("optimStep", zOptimStepBody, body);
      return api.raw.POST("/v1/runs/{run_id}/optim_step", { ...init, params: { path: { run_id: runId } }, body });
    },
    options,
  );
}

export function trainStep(api: Api, runId: string, body: TrainStepRequest, options?: RequestOptions): APIPromise<TrainStepResult> {
  return api.call(
    "trainStep",
    zTrainStepResponse,
    (init) => {
      checkRunId("trainStep", runId);
      validateInput("trainStep", zTrainStepBody, body);
      return api.raw.POST("/v1/runs/{run_id}/train_step", { ...init, params: { path: { run_id: runId } }, body });
    },
    options,
  );
}

export function zeroGrad(api: Api, runId: string, options?: RequestOptions): APIPromise<ZeroGradResult> {
  return api.call(
    "zeroGrad",
    zZeroGradResponse,
    (init) => {
      checkRunId("zeroGrad", runId);
      return api.raw.POST("/v1/runs/{run_id}/zero_grad", { ...init, params: { path: { run_id: runId } } });
    },
    options,
  );
}

/** Query of `listMetrics`: page size (1..1000, default 100) and the cursor to resume after. */
export interface ListMetricsQuery {
  /** Page size. @default 100 (max 1000) */
  limit?: number | undefined;
  /** The `next_cursor` of an earlier page: the list resumes after it. */
  after?: string | undefined;
}

export function listMetricsPage(api: Api, runId: string, query: ListMetricsQuery, options?: RequestOptions): APIPromise<MetricList> {
  return api.call(
    "listMetrics",
    zListMetricsResponse,
    (init) => {
      checkRunId("listMetrics", runId);
      const checked = definedOnly(query);
      validateInput("listMetrics", zListMetricsQuery, checked);
      return api.raw.GET("/v1/runs/{run_id}/metrics", { ...init, params: { path: { run_id: runId }, query: checked } });
    },
    options,
  );
}
