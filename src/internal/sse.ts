import type { SampleChunk } from "../../generated/schema.js";
import { zSampleChunk } from "../../generated/zod/zod.gen.js";
import { APIResponseValidationError } from "../errors.js";
import { makeStreamError } from "./error-factory.js";
import { readServerSentEvents } from "./sse-events.js";
import { formatPath, safeParse } from "./validate.js";

/**
 * Parses a `text/event-stream` body of `sample` as it arrives: each `data:` event is checked
 * against `chunkSchema` (the client's reader of `SampleChunk`) and yielded at once, `data: [DONE]` ends the stream, `event: error`
 * throws the mapped APIError. Leaving the loop early (break, throw) cancels the body, which
 * aborts the request.
 */
export async function* parseSampleStream(
  body: ReadableStream<Uint8Array>,
  headers: Headers,
  redact: (text: string) => string,
  chunkSchema: typeof zSampleChunk = zSampleChunk,
): AsyncGenerator<SampleChunk, void, undefined> {
  const requestId = headers.get("x-request-id") ?? undefined;
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader();
  async function* text(): AsyncGenerator<string, void, undefined> {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  try {
    for await (const value of readServerSentEvents(text())) {
      if (value.data === "[DONE]") return;
      const payload = parseJson(value.data, requestId);
      if (value.event === "error") throw makeStreamError(payload, headers, redact);
      const parsed = safeParse(chunkSchema, payload);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new APIResponseValidationError("sample (stream)", formatPath(issue?.path ?? []), issue?.message ?? "invalid chunk", requestId);
      }
      yield payload as SampleChunk;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function parseJson(data: string, requestId: string | undefined): unknown {
  try {
    return JSON.parse(data);
  } catch (cause) {
    throw new APIResponseValidationError("sample (stream)", "", `an event is not JSON: ${data.slice(0, 80)}`, requestId, { cause });
  }
}
