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
import { validateInput, type Api } from "./api.js";
import { checkRunId } from "./ops-runs.js";
import type { WithRequestId } from "./request-id.js";
import type { RequestOptions } from "./transport.js";

export async function forwardBackward(api: Api, runId: string, batch: Batch, options?: RequestOptions): Promise<WithRequestId<ForwardBackwardResult>> {
  checkRunId("forwardBackward", runId);
  const body = { batch };
  validateInput("forwardBackward", zForwardBackwardBody, body);
  const params = { path: { run_id: runId } };
  return api.call("forwardBackward", zForwardBackwardResponse, (init) => api.raw.POST("/v1/runs/{run_id}/forward_backward", { ...init, params, body }), options);
}

export async function optimStep(api: Api, runId: string, body: OptimStepRequest = {}, options?: RequestOptions): Promise<WithRequestId<OptimStepResult>> {
  checkRunId("optimStep", runId);
  validateInput("optimStep", zOptimStepBody, body);
  const params = { path: { run_id: runId } };
  return api.call("optimStep", zOptimStepResponse, (init) => api.raw.POST("/v1/runs/{run_id}/optim_step", { ...init, params, body }), options);
}

export async function trainStep(api: Api, runId: string, body: TrainStepRequest, options?: RequestOptions): Promise<WithRequestId<TrainStepResult>> {
  checkRunId("trainStep", runId);
  validateInput("trainStep", zTrainStepBody, body);
  const params = { path: { run_id: runId } };
  return api.call("trainStep", zTrainStepResponse, (init) => api.raw.POST("/v1/runs/{run_id}/train_step", { ...init, params, body }), options);
}

export async function zeroGrad(api: Api, runId: string, options?: RequestOptions): Promise<WithRequestId<ZeroGradResult>> {
  checkRunId("zeroGrad", runId);
  const params = { path: { run_id: runId } };
  return api.call("zeroGrad", zZeroGradResponse, (init) => api.raw.POST("/v1/runs/{run_id}/zero_grad", { ...init, params }), options);
}

/** Query of `listMetrics`: page size (1..1000, default 100) and the cursor of the previous page. */
export interface ListMetricsQuery {
  limit?: number;
  after?: string;
}

export async function listMetricsPage(api: Api, runId: string, query: ListMetricsQuery, options?: RequestOptions): Promise<WithRequestId<MetricList>> {
  checkRunId("listMetrics", runId);
  validateInput("listMetrics", zListMetricsQuery, query);
  const params = { path: { run_id: runId }, query };
  return api.call("listMetrics", zListMetricsResponse, (init) => api.raw.GET("/v1/runs/{run_id}/metrics", { ...init, params }), options);
}
