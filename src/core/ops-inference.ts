import type { EmbeddingsResponse, SampleChunk, SampleRequest, SampleResult } from "../../generated/schema.js";
import { zCreateEmbeddingsBody, zCreateEmbeddingsResponse, zSampleBody, zSampleChunk, zSampleResponse } from "../../generated/zod/zod.gen.js";
import { APIResponseValidationError } from "../errors.js";
import { validateInput, type Api } from "./api.js";
import { checkRunId } from "./ops-runs.js";
import type { WithRequestId } from "./request-id.js";
import { parseSampleStream } from "./sse.js";
import type { RequestOptions } from "./transport.js";

export async function sample(api: Api, runId: string, body: SampleRequest, options?: RequestOptions): Promise<WithRequestId<SampleResult>> {
  checkRunId("sample", runId);
  validateInput("sample", zSampleBody, body);
  const params = { path: { run_id: runId } };
  const wire = { ...body, stream: false };
  return api.call("sample", zSampleResponse, (init) => api.raw.POST("/v1/runs/{run_id}/sample", { ...init, params, body: wire }), options);
}

/**
 * Starts a streamed `sample` and yields its chunks as they arrive. The request is sent when
 * iteration starts; leaving the loop aborts it.
 */
export async function* sampleStream(api: Api, runId: string, body: SampleRequest, options: RequestOptions = {}): AsyncGenerator<SampleChunk, void, undefined> {
  checkRunId("sample", runId);
  validateInput("sample", zSampleBody, body);
  const params = { path: { run_id: runId } };
  const wire = { ...body, stream: true };
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  try {
    const { data, response } = await api.send(
      "sample",
      (init) => api.raw.POST("/v1/runs/{run_id}/sample", { ...init, params, body: wire, parseAs: "stream", headers: { Accept: "text/event-stream" } }),
      { ...options, signal },
    );
    if (!(data instanceof ReadableStream)) {
      throw new APIResponseValidationError("sample", "", "expected a text/event-stream body", response.headers.get("x-request-id") ?? undefined);
    }
    yield* parseSampleStream(data as ReadableStream<Uint8Array>, response.headers, api.redact, api.reader(zSampleChunk));
  } finally {
    controller.abort();
  }
}

export async function embeddings(api: Api, runId: string, inputs: string[], step: number | undefined, options?: RequestOptions): Promise<WithRequestId<EmbeddingsResponse>> {
  checkRunId("createEmbeddings", runId);
  const body = step === undefined ? { inputs } : { inputs, step };
  validateInput("createEmbeddings", zCreateEmbeddingsBody, body);
  const params = { path: { run_id: runId } };
  return api.call("createEmbeddings", zCreateEmbeddingsResponse, (init) => api.raw.POST("/v1/runs/{run_id}/embeddings", { ...init, params, body }), options);
}
