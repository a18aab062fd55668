import type {
  DetokenizeRequest,
  DetokenizeResult,
  ForwardBackwardRequest,
  ForwardBackwardResult,
  ForwardRequest,
  ForwardResult,
  MetricList,
  OptimStepRequest,
  OptimStepResult,
  TrainStepRequest,
  TokenizeRequest,
  TokenizeResult,
  TrainStepResult,
  ZeroGradResult,
} from "../../generated/schema.js";
import {
  zDetokenizeBody,
  zDetokenizeResponse,
  zForwardBody,
  zForwardResponse,
  zTokenizeBody,
  zTokenizeResponse,
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

export function forwardBackward(api: Api, runId: string, body: ForwardBackwardRequest, options?: RequestOptions): APIPromise<ForwardBackwardResult> {
  return api.call(
    "forwardBackward",
    zForwardBackwardResponse,
    (init) => {
      checkRunId("forwardBackward", runId);
      validateInput("forwardBackward", zForwardBackwardBody, body);
      return api.raw.POST("/v1/runs/{run_id}/forward_backward", { ...init, params: { path: { run_id: runId } }, body });
    },
    options,
  );
}

/**
 * The `(params, options)` of a `forwardBackward` call, which may also be the older
 * `(options)`: a second argument without `loss_fn` / `loss_fn_config` and no third is options.
 */
export function lossAndOptions(
  second: Omit<ForwardBackwardRequest, "batch"> | RequestOptions | undefined,
  third: RequestOptions | undefined,
): [Omit<ForwardBackwardRequest, "batch">, RequestOptions | undefined] {
  if (third === undefined && second !== undefined && !("loss_fn" in second) && !("loss_fn_config" in second)) return [{}, second as RequestOptions];
  return [(second ?? {}) as Omit<ForwardBackwardRequest, "batch">, third];
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

/** Per-token logprobs of `body.batch` under the live weights or checkpoint `body.step`; changes nothing. */
export function forward(api: Api, runId: string, body: ForwardRequest, options?: RequestOptions): APIPromise<ForwardResult> {
  return api.call(
    "forward",
    zForwardResponse,
    (init) => {
      checkRunId("forward", runId);
      validateInput("forward", zForwardBody, body);
      return api.raw.POST("/v1/runs/{run_id}/forward", { ...init, params: { path: { run_id: runId } }, body });
    },
    options,
  );
}

/** The model's token ids of `body.text` (BOS first with `add_bos`). */
export function tokenize(api: Api, model: string, body: TokenizeRequest, options?: RequestOptions): APIPromise<TokenizeResult> {
  return api.call(
    "tokenize",
    zTokenizeResponse,
    (init) => {
      validateInput("tokenize", zTokenizeBody, body);
      return api.raw.POST("/v1/models/{model_id}/tokenize", { ...init, params: { path: { model_id: model } }, body });
    },
    options,
  );
}

/** The text of `body.tokens` (special tokens skipped). */
export function detokenize(api: Api, model: string, body: DetokenizeRequest, options?: RequestOptions): APIPromise<DetokenizeResult> {
  return api.call(
    "detokenize",
    zDetokenizeResponse,
    (init) => {
      validateInput("detokenize", zDetokenizeBody, body);
      return api.raw.POST("/v1/models/{model_id}/detokenize", { ...init, params: { path: { model_id: model } }, body });
    },
    options,
  );
}
