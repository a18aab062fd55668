import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod/mini";
import { ApiError, internalError, validationError } from "../wire/api-error.js";
import { applyCors, type CorsOrigins } from "./cors.js";
import { type HostPolicy, checkHost } from "./host-check.js";
import type { Handler, Handlers, Reply, RequestContext, Services } from "../context.js";
import { idempotencyScope, requestHash } from "../store/idempotency.js";
import { newRequestId } from "../store/ids.js";
import { OPERATIONS } from "../../../generated/operations.js";
import { zIdempotencyKey } from "../../../generated/zod/zod.gen.js";
import { OPERATION_TRAITS } from "../operation-traits.js";
import { parseJsonBody, readBody } from "./read-body.js";
import { sendBytes, sendJson } from "../wire/respond.js";
import { sendError } from "./error-status.js";
import { matchRoute } from "./routes.js";
import type { IdempotencyRecord } from "../store/run-record.js";
import { coerceStrings, validatePart } from "./validate-request.js";
import { checkCheapLimits } from "./cheap-limits.js";
import type { ConnectionGuard } from "./connection-guard.js";
import { classifyInfrastructureError } from "./infrastructure-errors.js";
import { asTenant } from "../engine/tenant.js";
import { serveConsole } from "./console.js";

/** What the pipeline needs besides the services. */
export interface PipelineOptions {
  handlers: Handlers;
  /** Hash of the caller's key from the Authorization header. @throws ApiError 401 */
  authenticate: (authorization: string | undefined) => string;
  bodyLimitBytes: number;
  /** One line per finished request; never receives a key. */
  log: ((line: string) => void) | undefined;
  /** Reports unexpected errors (with their stack) that the client sees only as a 500. */
  onInternalError: (error: unknown, requestId: string) => void;
  /** Reports what ran out or failed when the machine, not the request, is at fault (the client sees a 503). */
  onInfrastructureError: (line: string, requestId: string) => void;
  /** The connection cap, whose over-cap connections are served only for getHealth. */
  guard?: ConnectionGuard;
  /** Page origins that may call from a browser; `undefined` for loopback origins only. */
  corsOrigins?: CorsOrigins;
  /** `Host` headers answered (see `hostPolicy`); `undefined` for any. */
  hostPolicy?: HostPolicy;
  /** The web console's built files, served at `/`; `undefined` serves none. */
  consoleDir?: string | undefined;
}

const noInput = z.object({});

/**
 * The request pipeline: request id, the Host check, routing, authentication, body limit and JSON parsing,
 * validation of path, query and body against the generated schemas, Idempotency-Key handling,
 * then the operation's handler. Whatever happens, the answer is a response in the error schema,
 * never a crash.
 */
export function createRequestListener(services: Services, options: PipelineOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const requestId = newRequestId();
    const started = performance.now();
    res.setHeader("x-request-id", requestId);
    const rawPath = (req.url ?? "/").split("?")[0] ?? "/";
    const gone = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    if (options.log) {
      const log = options.log;
      res.once("close", () => {
        const ms = (performance.now() - started).toFixed(1);
        const status = res.headersSent ? res.statusCode : 499;
        log(`${req.method} ${rawPath} ${status} ${ms}ms ${requestId}`);
      });
    }
    handle(services, options, req, res, requestId, rawPath, gone.signal).catch((error: unknown) => {
      settleRefused(services, options, req, rawPath, error);
      let apiError: ApiError;
      const infrastructure = error instanceof ApiError ? undefined : classifyInfrastructureError(error);
      if (error instanceof ApiError) {
        apiError = error;
      } else if (infrastructure) {
        options.onInfrastructureError(`${infrastructure.error.code}: ${infrastructure.logLine}`, requestId);
        apiError = infrastructure.error;
      } else {
        options.onInternalError(error, requestId);
        apiError = internalError();
      }
      // A body refused before it was read in full (over the limit, no valid key, no such route)
      // is never drained: Node would read on, however big it is. Close once the answer is out.
      if (!req.complete) {
        res.setHeader("connection", "close");
        res.once("finish", () => req.destroy());
      }
      if (res.headersSent) res.end();
      else sendError(res, apiError, requestId);
    });
  };
}

async function handle(
  services: Services,
  options: PipelineOptions,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  rawPath: string,
  signal: AbortSignal,
): Promise<void> {
  checkHost(req, options.hostPolicy);
  if (options.consoleDir !== undefined && (await serveConsole(req, res, rawPath, options.consoleDir))) return;
  if (applyCors(req, res, options.corsOrigins, rawPath)) return;
  const method = req.method ?? "GET";
  const match = matchRoute(method, rawPath);
  if (match.kind === "not_found") {
    throw new ApiError("route_not_found", `No route ${method} ${rawPath}; see openapi/signal.yaml.`);
  }
  if (match.kind === "method_not_allowed") {
    res.setHeader("allow", match.allowed.join(", "));
    throw new ApiError("method_not_allowed", `${method} is not allowed on ${rawPath}; use ${match.allowed.join(" or ")}.`);
  }
  const { route, params } = match;
  const operationId = route.operationId;
  if (options.guard?.overCap(req)) {
    res.setHeader("connection", "close");
    if (operationId !== "getHealth") {
      throw new ApiError("overloaded", "The server is at its connection limit and every connection is busy; retry after 1 s.", undefined, {
        seconds: 1,
      });
    }
  }
  const keyHash = operationId === "getHealth" ? "" : options.authenticate(req.headers.authorization);
  const operation: Operation = OPERATIONS[operationId];

  const path = operation.params ? validatePart(operation.params, coerceStrings(operation.params, params, "canonical")) : {};
  const query = validatePart(operation.query ?? noInput, coerceStrings(operation.query, queryOf(req.url ?? "")));

  // Refused for load before the body is read: the cheapest place to say no. The place is held
  // (counted against the key and run only) until the call is ready to run.
  const place = OPERATION_TRAITS[operationId].admission === "engine" ? services.admission.admit(keyHash, params.run_id) : undefined;
  try {
    // The engine serves keys in turn: its calls made while answering are this key's.
    await asTenant(keyHash, () =>
      answer(services, options, { req, res, requestId, rawPath, signal, operationId, keyHash, path, query, enterQueue: place?.enter ?? noop }),
    );
  } finally {
    place?.release();
  }
}

const noop = () => {};

/** A routed, authenticated request whose path and query are valid. */
interface Routed extends Pick<RequestContext, "req" | "res" | "requestId" | "signal" | "operationId" | "keyHash" | "enterQueue"> {
  rawPath: string;
  path: unknown;
  query: unknown;
}

/** What the pipeline reads of an operation's generated definition. */
interface Operation {
  readonly params: z.ZodMiniType | undefined;
  readonly query: z.ZodMiniType | undefined;
  readonly body: z.ZodMiniType | undefined;
  readonly bodyRequired: boolean;
}

/** Reads and validates the body, then runs the handler (through the Idempotency-Key record when there is a key). */
async function answer(services: Services, options: PipelineOptions, routed: Routed): Promise<void> {
  const { req, res, requestId, rawPath, signal, operationId, keyHash, path, query, enterQueue } = routed;
  const method = req.method ?? "GET";
  const operation: Operation = OPERATIONS[operationId];
  let body: unknown = {};
  let rawBody: unknown;
  if (method === "POST") {
    rawBody = parseJsonBody(await readBody(req, options.bodyLimitBytes));
    if (rawBody === undefined && operation.bodyRequired) throw validationError("body: a JSON request body is required");
    checkCheapLimits(operationId, rawBody, Math.max(...services.models.map((m) => m.context_length)));
    // Only an absent body stands for `{}`; a JSON `null` is a body, and not an object.
    body = validatePart(operation.body ?? noInput, rawBody === undefined ? {} : rawBody);
  }

  // Its body is in: the call is ready to run, unless it is a pipelined call on a run, which
  // is ready when its turn comes (`inTurn` enters it then).
  if (req.headers["signal-sequence"] === undefined || (path as { run_id?: string }).run_id === undefined) enterQueue();

  // The one place a context is built for an operation known only at run time: each part was
  // just checked by that operation's generated validator, which is what the handler's type says.
  const ctx = {
    services,
    requestId,
    operationId,
    keyHash,
    path,
    query,
    body,
    rawBody: rawBody ?? {},
    req,
    res,
    signal,
    enterQueue,
    sendError: (error: ApiError) => sendError(res, error, requestId),
  } as RequestContext<never>;
  const handler = options.handlers[operationId] as Handler<never>;
  const idempotencyKey = method === "POST" ? req.headers["idempotency-key"] : undefined;
  if (idempotencyKey === undefined) {
    writeReply(res, await handler(ctx));
    return;
  }
  const keyCheck = zIdempotencyKey.safeParse(idempotencyKey);
  if (!keyCheck.success) throw validationError("Idempotency-Key: must be 1-255 printable ASCII characters", "Idempotency-Key");
  const scope = idempotencyScope(keyHash, keyCheck.data);
  const hash = requestHash(operationId, rawPath, rawBody ?? {});
  const release = await services.idempotency.acquire(scope);
  try {
    const stored = services.idempotency.find(keyHash, scope);
    if (stored) {
      if (stored.request_hash !== hash) {
        throw new ApiError("idempotency_key_reused", "This Idempotency-Key was already used with a different request; use a new key per logical call.");
      }
      res.setHeader("idempotent-replayed", "true");
      sendJson(res, stored.status, stored.body);
      return;
    }
    ctx.idempotency = { scope, request_hash: hash };
    res.setHeader("idempotent-replayed", "false");
    const reply = await handler(ctx);
    if (reply.kind === "json") {
      if (reply.recordedInRun === undefined && reply.status < 300 && !OPERATION_TRAITS[operationId].changesRun) {
        // Calls that change a run were recorded in the same transaction by `changeRun`.
        const record: IdempotencyRecord = { request_hash: hash, status: reply.status, body: reply.body, created_at: Date.now() };
        if (reply.runId !== undefined) record.run_id = reply.runId;
        services.idempotency.remember(keyHash, scope, record);
      }
    }
    writeReply(res, reply);
  } finally {
    release();
  }
}

/**
 * A pipelined call refused before it took its turn (a bad body, a check before the run's queue)
 * still settles its position, so the calls after it are not held for it. Only for a caller
 * whose key is valid and who owns the run.
 */
function settleRefused(services: Services, options: PipelineOptions, req: IncomingMessage, rawPath: string, error: unknown): void {
  const header = req.headers["signal-sequence"];
  if (header === undefined) return;
  const match = matchRoute(req.method ?? "GET", rawPath);
  const runId = match.kind === "found" ? match.params.run_id : undefined;
  if (runId === undefined) return;
  let keyHash: string;
  try {
    keyHash = options.authenticate(req.headers.authorization);
  } catch {
    return;
  }
  const run = services.store.get(runId);
  if (run?.owner === keyHash) services.sequencer.refused(run, header, req, error);
}

function writeReply(res: ServerResponse, reply: Reply): void {
  if (reply.kind === "json") {
    sendJson(res, reply.status, reply.body);
  } else if (reply.kind === "bytes") {
    sendBytes(res, reply.status, reply.body, reply.contentType);
  }
}

function queryOf(url: string): Record<string, string | string[]> {
  const at = url.indexOf("?");
  const out: Record<string, string | string[]> = {};
  if (at < 0) return out;
  for (const [key, value] of new URLSearchParams(url.slice(at + 1))) {
    const prior = out[key];
    out[key] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return out;
}
