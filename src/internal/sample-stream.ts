import type { SampleChunk, SampleRequest } from "../../generated/schema.js";
import { zSampleChunk } from "../../generated/zod/zod.gen.js";
import { APIConnectionError, APIResponseValidationError, APIUserAbortError, SignalError } from "../errors.js";
import { Stream } from "../stream.js";
import type { Api } from "./api.js";
import type { RawCall } from "../core/api-promise.js";
import { sendOperation } from "./call-operation.js";
import type { RequestOptions } from "../core/request-options.js";
import { parseSampleStream } from "./sse.js";

/**
 * Sends a streamed `sample` and resolves once the headers are in, with the unread
 * `text/event-stream` body. `options.signal` aborts the request, body included.
 */
async function openSampleStream(
  api: Api,
  runId: string,
  body: SampleRequest,
  options: RequestOptions,
): Promise<RawCall & { data: ReadableStream<Uint8Array> }> {
  const raw = await sendOperation(api, "sample", { path: { run_id: runId }, body: { ...body, stream: true } }, options, {
    parseAs: "stream",
    headers: { Accept: "text/event-stream" },
  });
  if (!(raw.data instanceof ReadableStream)) {
    throw new APIResponseValidationError("sample", "", "expected a text/event-stream body", raw.requestId);
  }
  return raw as RawCall & { data: ReadableStream<Uint8Array> };
}

/**
 * A streamed `sample` as a `Stream`: the request goes out when iteration starts, leaving the
 * loop aborts it, and every failure is an SDK error (see `streamFailure`).
 */
export function sampleStream(api: Api, runId: string, body: SampleRequest, options: RequestOptions = {}): Stream<SampleChunk> {
  const controller = new AbortController();
  return new Stream<SampleChunk>(async function* (signal) {
    const combined = options.signal ? AbortSignal.any([options.signal, signal]) : signal;
    try {
      const raw = await openSampleStream(api, runId, body, { ...options, signal: combined });
      yield* parseSampleStream(raw.data, raw.response.headers, api.redact, api.reader(zSampleChunk));
    } catch (error) {
      throw streamFailure(error, combined, api);
    } finally {
      // Ends the request when the loop is left early; a no-op once the body is done.
      controller.abort();
    }
  }, controller);
}

/**
 * The SDK error for a failure of a stream after its headers arrived, when the body read
 * rejects with whatever the runtime gives (a DOMException for an abort, `TypeError: terminated`
 * for a reset, the pool's reason for `close()`).
 */
function streamFailure(error: unknown, signal: AbortSignal, api: Api): SignalError {
  if (error instanceof SignalError) return error;
  if (api.pool.closed) return new APIConnectionError("The client was closed while the stream was open.", { cause: error });
  if (signal.aborted) return new APIUserAbortError("The stream was aborted.", { cause: signal.reason ?? error });
  const detail = error instanceof Error ? api.redact(error.message) : "network error";
  return new APIConnectionError(`sample (stream) lost its connection: ${detail}`, { cause: error });
}
