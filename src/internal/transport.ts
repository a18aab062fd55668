import { randomUUID } from "./random-id.js";
import { APIConnectionError, APIError, APITimeoutError, APIUserAbortError, type SignalError, ValidationError } from "../errors.js";
import { makeAPIError } from "./error-factory.js";
import { BufferedResponse, type LiteRequest, UTF8 } from "./lite-http.js";
import { checkPolicyOptions, MAX_TIMEOUT_MS } from "./check-options.js";
import type { LevelLogger } from "./logger.js";
import type { CallOptions, FetchOptions } from "../core/request-options.js";
import type { Pool } from "./pool.js";
import { withOverrides, type RequestPolicy } from "../core/policy.js";
import { retryDelay } from "./retry-delay.js";
import { shouldRetryStatus } from "./should-retry.js";
import { attemptAbort } from "./attempt-abort.js";

/** What the transport needs from its client. */
export interface TransportContext {
  pool: Pool;
  policy: Readonly<RequestPolicy>;
  logger: LevelLogger;
  redact: (text: string) => string;
  /** Headers of every request (the client header, `defaultHeaders`), applied before the call's own. */
  headers: ReadonlyArray<readonly [string, string | null]>;
  /** `Bearer <key>`: the client's own, never replaced by a header option. */
  authorization: string;
  /**
   * `headers` and `authorization` as one frozen object with lower-case names
   * (`baseHeaders(headers, authorization)`), sent as it is by a call that adds no header;
   * `undefined` when one of them is not valid.
   */
  baseHeaders: Readonly<Record<string, string>> | undefined;
  /** The client's `fetchOptions`. */
  fetchOptions: FetchOptions | undefined;
  /** Source of jitter; tests pin it. @default Math.random */
  random?: (() => number) | undefined;
}

type Outcome =
  | { kind: "done"; response: Response }
  | { kind: "retry"; error: SignalError; headers?: Headers | undefined }
  | { kind: "fail"; error: SignalError };

/**
 * The fetch of one logical call, which the direct client hands its `LiteRequest`. It owns the
 * attempts: a per-attempt timeout with its own AbortController, the retry decision, the delay, the
 * Idempotency-Key (made once, reused by every retry), and turning failures into the error tree.
 * The direct client only ever sees a 2xx response; JSON bodies are read inside the attempt so the
 * timeout covers them, `text/event-stream` bodies are handed on unread.
 *
 * The headers go to `fetch` as a plain object with lower-case names rather than a `Headers`:
 * undici copies either into its own, and copying a `Headers` (sorted iteration) costs more. A call
 * that adds no header (a GET without header options) sends the client's one frozen object; every
 * name and value that is not plainly valid goes through `Headers.set`, so a bad one still rejects
 * the call with its TypeError before anything is sent.
 */
export function createCallFetch(ctx: TransportContext, operation: string, options?: CallOptions): (request: LiteRequest) => Promise<Response> {
  if (options === undefined) return (request) => callFetch(ctx, operation, ctx.policy, NO_OPTIONS, request);
  checkPolicyOptions(options);
  const policy = withOverrides(ctx.policy, options);
  return (request) => callFetch(ctx, operation, policy, options, request);
}

const NO_OPTIONS: CallOptions = Object.freeze({});

async function callFetch(
  ctx: TransportContext,
  operation: string,
  policy: Readonly<RequestPolicy>,
  options: CallOptions,
  request: LiteRequest,
): Promise<Response> {
  const userSignal = options.signal;
  const headers = callHeaders(ctx, request, options);
  const body = withExtraBody(operation, request.method, request.bodyText, options.extraBody, headers);
  const url = withExtraQuery(request.url, options.extraQuery);
  const extra = options.fetchOptions ? { ...ctx.fetchOptions, ...options.fetchOptions } : ctx.fetchOptions;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(userSignal);
    if (ctx.pool.closed) throw new APIConnectionError("The client is closed.");
    if (attempt === 0 && options.sequence) putHeader(headers, "signal-sequence", options.sequence());
    const outcome = await runAttempt(ctx, operation, policy.timeout, userSignal, attempt, url, request.method, headers, body, extra);
    if (outcome.kind === "done") return outcome.response;
    if (outcome.kind === "fail" || attempt >= policy.maxRetries) throw withAttempts(outcome.error, attempt + 1);
    const delay = retryDelay(policy.backoff, attempt, outcome.headers, ctx.random);
    ctx.logger.info(ctx.redact(`${operation} retrying in ${Math.round(delay)} ms (retry ${attempt + 1} of ${policy.maxRetries}): ${outcome.error.message}`));
    await sleep(delay, userSignal, ctx.pool);
  }
}

/**
 * The headers of one attempt: the client's, the request's (`content-type` of a JSON body), the
 * call's `headers` option, an Idempotency-Key on a POST. A call that adds none shares the
 * client's frozen object (nothing below writes to it: a sequence number or `extraBody` only come
 * with a copy).
 */
function callHeaders(ctx: TransportContext, request: LiteRequest, options: CallOptions): Record<string, string> {
  const base = ctx.baseHeaders;
  const post = request.method === "POST";
  if (
    base !== undefined &&
    !post &&
    !request.hasHeaders &&
    options.headers === undefined &&
    options.sequence === undefined &&
    options.extraBody === undefined
  ) {
    return base as Record<string, string>;
  }
  const headers: Record<string, string> = base !== undefined ? { ...base } : {};
  if (base === undefined) {
    putHeaders(headers, ctx.headers);
    putHeader(headers, "authorization", ctx.authorization);
  }
  request.forEachHeader((value, name) => putHeader(headers, name, value));
  if (options.headers) putHeaders(headers, Object.entries(options.headers));
  if (post && !Object.hasOwn(headers, "idempotency-key")) {
    putHeader(headers, "idempotency-key", options.idempotencyKey ?? `sdk-${randomUUID()}`);
  }
  return headers;
}

/**
 * The client's headers (client header, `defaultHeaders`, its authorization) as one frozen object
 * with lower-case names, made once per client; `undefined` when one of them is not a valid
 * header, so that every call applies them one by one and rejects with the TypeError, as a
 * `Headers` would.
 */
export function baseHeaders(entries: ReadonlyArray<readonly [string, string | null]>, authorization: string): Readonly<Record<string, string>> | undefined {
  const headers: Record<string, string> = {};
  try {
    putHeaders(headers, entries);
    putHeader(headers, "authorization", authorization);
  } catch {
    return undefined;
  }
  return Object.freeze(headers);
}

/** Sets or (for `null`) removes headers; `Authorization` is the client's alone. */
function putHeaders(headers: Record<string, string>, entries: Iterable<readonly [string, string | null | undefined]>): void {
  for (const [name, value] of entries) {
    if (value === undefined || name.toLowerCase() === "authorization") continue;
    if (value === null) delete headers[name.toLowerCase()];
    else putHeader(headers, name, value);
  }
}

/** A header name (an HTTP token) and a value (no NUL, CR, LF, nothing past U+00FF) that `Headers.set` takes as they are. */
const PLAIN_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PLAIN_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** `headers.set(name, value)` of a `Headers`, on a plain object: the same TypeError for a bad name or value. */
function putHeader(headers: Record<string, string>, name: string, value: string): void {
  if (!PLAIN_NAME.test(name) || !PLAIN_VALUE.test(value)) new Headers().set(name, value);
  headers[name.toLowerCase()] = value;
}

async function runAttempt(
  ctx: TransportContext,
  operation: string,
  timeout: number,
  userSignal: AbortSignal | undefined,
  attempt: number,
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  extra: FetchOptions | undefined,
): Promise<Outcome> {
  const controller = attemptAbort(ctx.pool.native);
  const onUserAbort = userSignal === undefined ? undefined : () => controller.abort(userSignal.reason);
  if (onUserAbort !== undefined) userSignal?.addEventListener("abort", onUserAbort, { once: true });
  // The timeout: the pool's one timer aborts the attempt with an APITimeoutError at the deadline.
  const inFlight = ctx.pool.track(controller, Date.now() + timeout);
  const started = ctx.logger.debugging ? Date.now() : 0;
  let streaming = false;
  try {
    log(ctx, `${operation} request`, { method, url, attempt });
    const init: RequestInit = extra
      ? { ...extra, method, headers, body: body ?? null, redirect: "follow", signal: controller.signal }
      : { method, headers, body: body ?? null, redirect: "follow", signal: controller.signal };
    const response = await ctx.pool.send(url, init);
    if (ctx.logger.debugging) {
      const requestId = response.headers.get("x-request-id") ?? undefined;
      log(ctx, `${operation} response`, { status: response.status, request_id: requestId, ms: Date.now() - started });
    }
    if (response.ok && isEventStream(response) && response.body) {
      // The timeout covers the answer's arrival; a stream then lasts as long as it lasts.
      inFlight.deadline = Number.POSITIVE_INFINITY;
      streaming = true;
      const release = () => {
        if (onUserAbort !== undefined) userSignal?.removeEventListener("abort", onUserAbort);
        ctx.pool.untrack(inFlight);
      };
      return { kind: "done", response: withReleasingBody(response, response.body, release) };
    }
    const bytes = await response.arrayBuffer();
    if (response.ok) {
      // The direct client reads only status, headers and the body methods: see lite-http.ts.
      const buffered = new BufferedResponse(bytes, response.status, response.statusText, response.headers, response.url);
      return { kind: "done", response: buffered as unknown as Response };
    }
    const error = makeAPIError(response.status, parseBody(bytes), response.headers, ctx.redact);
    const retry = shouldRetryStatus(response.status, response.headers, error.code);
    return retry ? { kind: "retry", error, headers: response.headers } : { kind: "fail", error };
  } catch (cause) {
    if (userSignal?.aborted) return { kind: "fail", error: new APIUserAbortError(undefined, { cause: userSignal.reason }) };
    const where = { operation, method, url };
    if (controller.signal.aborted && controller.signal.reason instanceof APITimeoutError) {
      return { kind: "retry", error: new APITimeoutError(`${operation}: ${method} ${url} timed out after ${timeout} ms`, { cause, ...where }) };
    }
    if (ctx.pool.closed) return { kind: "fail", error: new APIConnectionError("The client was closed.", { cause }) };
    if (cause instanceof APIError) return { kind: "fail", error: cause };
    const error = new APIConnectionError("", { cause, ...where });
    const detail = ctx.redact(rootMessage(cause));
    setMessage(error, `${operation}: ${method} ${url} failed to connect${error.code ? ` (${error.code})` : ""}: ${detail}`);
    return { kind: "retry", error };
  } finally {
    if (!streaming) {
      if (onUserAbort !== undefined) userSignal?.removeEventListener("abort", onUserAbort);
      ctx.pool.untrack(inFlight);
    }
  }
}

/** The SDK's JSON body with `extraBody` merged over it. @throws ValidationError when there is no JSON object to extend. */
function withExtraBody(
  operation: string,
  method: string,
  body: string | undefined,
  extra: Record<string, unknown> | undefined,
  headers: Record<string, string>,
): string | undefined {
  if (extra === undefined) return body;
  if (method === "GET" || method === "HEAD") {
    throw new ValidationError(`${operation}: extraBody: a ${method} request has no body; use extraQuery`, [
      { path: "extraBody", message: "not allowed on GET" },
    ]);
  }
  if (body === undefined || body === "") {
    headers["content-type"] = "application/json";
    return JSON.stringify(extra);
  }
  const parsed: unknown = JSON.parse(body);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ValidationError(`${operation}: extraBody: the body is not a JSON object`, [{ path: "extraBody", message: "body is not an object" }]);
  }
  return JSON.stringify({ ...parsed, ...extra });
}

/** The URL with `extraQuery` set on it. */
function withExtraQuery(url: string, extra: CallOptions["extraQuery"]): string {
  if (extra === undefined) return url;
  const out = new URL(url);
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) out.searchParams.set(name, String(value));
  }
  return out.toString();
}

/** The same response, its body wrapped so that the end or cancel of the stream releases the attempt. */
function withReleasingBody(response: Response, body: ReadableStream<Uint8Array>, release: () => void): Response {
  const reader = body.getReader();
  const stream = new ReadableStream<Uint8Array>({
    async pull(out) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          out.close();
        } else out.enqueue(value);
      } catch (error) {
        release();
        out.error(error);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
  return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
}

function isEventStream(response: Response): boolean {
  return (response.headers.get("content-type") ?? "").includes("text/event-stream");
}

function parseBody(bytes: ArrayBuffer): unknown {
  const text = UTF8.decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new APIUserAbortError(undefined, { cause: signal.reason });
}

/**
 * The wait between attempts. A user abort ends it with APIUserAbortError, `close()` of the
 * pool with APIConnectionError, both at once rather than when the wait would have ended.
 */
function sleep(ms: number, signal: AbortSignal | undefined, pool: Pool): Promise<void> {
  if (ms <= 0) return Promise.resolve().then(() => throwIfAborted(signal));
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      unsubscribe();
    };
    const onAbort = () => {
      cleanup();
      reject(new APIUserAbortError(undefined, { cause: signal?.reason }));
    };
    const unsubscribe = pool.onClose(() => {
      cleanup();
      reject(new APIConnectionError("The client was closed while the call waited to retry."));
    });
    const timer = setTimeout(
      () => {
        cleanup();
        resolve();
      },
      Math.min(ms, MAX_TIMEOUT_MS),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function log(ctx: TransportContext, message: string, fields: Record<string, unknown>): void {
  if (!ctx.logger.debugging) return;
  const safe: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) safe[key] = typeof value === "string" ? ctx.redact(value) : value;
  ctx.logger.debug(ctx.redact(message), safe);
}

/** The deepest message down a `cause` chain: `connect ECONNREFUSED 127.0.0.1:7399` rather than `fetch failed`. */
function rootMessage(cause: unknown): string {
  let message = cause instanceof Error ? cause.message : "network error";
  for (let at = (cause as { cause?: unknown } | undefined)?.cause, depth = 0; at instanceof Error && depth < 8; depth++) {
    if (at.message) message = at.message;
    at = (at as { cause?: unknown }).cause;
  }
  return message;
}

function setMessage(error: Error, message: string): void {
  Object.defineProperty(error, "message", { value: message, writable: true, configurable: true, enumerable: false });
}

/** A connection or timeout error that ends the call says how many attempts were made. */
function withAttempts(error: SignalError, attempts: number): SignalError {
  if (!(error instanceof APIConnectionError) || error.operation === undefined) return error;
  Object.defineProperty(error, "attempts", { value: attempts, writable: false, configurable: true, enumerable: true });
  setMessage(error, `${error.message} (${attempts === 1 ? "1 attempt" : `${attempts} attempts`})`);
  return error;
}
