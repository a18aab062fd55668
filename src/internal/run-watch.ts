import type { RunEvent } from "../../generated/schema.js";
import type { WatchRunOptions, WatchedRunEvent } from "../types.js";
import { zRunEvent } from "../../generated/zod/zod.gen.js";
import { APIConnectionError, APIError, APIResponseValidationError, APIUserAbortError, SignalError } from "../errors.js";
import { Stream } from "../stream.js";
import type { Api } from "./api.js";
import { sendOperation } from "./call-operation.js";
import { makeStreamError } from "./error-factory.js";
import { readServerSentEvents } from "./sse-events.js";
import { formatPath, safeParse } from "./validate.js";

/**
 * The events of a run (the watchRun operation) as a `Stream`, reconnecting by itself: when the
 * connection drops or the server restarts, it connects again with `Last-Event-ID`, so the events
 * missed meanwhile come first (or a `run.updated` with `resync: true` when the server no longer
 * has them). It ends after `run.deleted`. A 4xx (no such run, a bad key) ends it with that error.
 */
export function watchRunStream(api: Api, runId: string, options: WatchRunOptions = {}): Stream<WatchedRunEvent> {
  const controller = new AbortController();
  return new Stream<WatchedRunEvent>(async function* (signal) {
    const combined = options.signal ? AbortSignal.any([options.signal, signal]) : signal;
    const state: { lastEventId?: string; retry?: number } = options.lastEventId === undefined ? {} : { lastEventId: options.lastEventId };
    const maxDelay = options.maxReconnectDelay ?? 30_000;
    let failures = 0;
    try {
      for (;;) {
        try {
          const headers: Record<string, string> = { Accept: "text/event-stream" };
          if (state.lastEventId !== undefined) headers["Last-Event-ID"] = state.lastEventId;
          const raw = await sendOperation(api, "watchRun", { path: { run_id: runId } }, { signal: combined }, { parseAs: "stream", headers });
          if (!(raw.data instanceof ReadableStream)) throw new APIResponseValidationError("watchRun", "", "expected a text/event-stream body", raw.requestId);
          failures = 0;
          for await (const event of readEvents(api, raw.data, raw.response.headers, state)) {
            yield event;
            if (event.type === "run.deleted") return;
          }
        } catch (error) {
          if (!reconnects(error, combined, api)) throw error;
        }
        // The stream ended or the connection failed: wait, then resume after the last event.
        const delay = Math.min((state.retry ?? 1_000) * 2 ** failures, maxDelay);
        failures++;
        await sleep(delay, combined);
      }
    } catch (error) {
      throw watchFailure(error, combined, api);
    } finally {
      controller.abort();
    }
  }, controller);
}

async function* readEvents(
  api: Api,
  body: ReadableStream<Uint8Array>,
  headers: Headers,
  state: { lastEventId?: string; retry?: number },
): AsyncGenerator<WatchedRunEvent, void, undefined> {
  const requestId = headers.get("x-request-id") ?? undefined;
  const reader = body.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader();
  async function* text(): AsyncGenerator<string, void, undefined> {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  const schema = api.reader(zRunEvent);
  try {
    for await (const sse of readServerSentEvents(text(), state)) {
      let payload: unknown;
      try {
        payload = JSON.parse(sse.data);
      } catch (cause) {
        throw new APIResponseValidationError("watchRun", "", `an event is not JSON: ${sse.data.slice(0, 80)}`, requestId, { cause });
      }
      if (sse.event === "error") throw makeStreamError(payload, headers, api.redact);
      const parsed = safeParse(schema, payload);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new APIResponseValidationError("watchRun", formatPath(issue?.path ?? []), issue?.message ?? "invalid event", requestId);
      }
      yield { ...(payload as RunEvent), id: state.lastEventId ?? "" };
    }
  } finally {
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** True for a failure a reconnection can cure: a lost connection, a timeout, a 429 or 5xx. */
function reconnects(error: unknown, signal: AbortSignal, api: Api): boolean {
  if (signal.aborted || api.pool.closed) return false;
  if (error instanceof APIError) return error.status === 429 || error.status >= 500;
  if (error instanceof SignalError) return error instanceof APIConnectionError;
  // The body read rejected with whatever the runtime gives for a reset (`TypeError: terminated`).
  return true;
}

function watchFailure(error: unknown, signal: AbortSignal, api: Api): SignalError {
  if (error instanceof SignalError && !(error instanceof APIConnectionError && signal.aborted)) return error;
  if (api.pool.closed) return new APIConnectionError("The client was closed while watching the run.", { cause: error });
  if (signal.aborted) return new APIUserAbortError("Watching the run was aborted.", { cause: signal.reason ?? error });
  const detail = error instanceof Error ? api.redact(error.message) : "network error";
  return new APIConnectionError(`watchRun lost its connection: ${detail}`, { cause: error });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
