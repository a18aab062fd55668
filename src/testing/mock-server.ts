import { randomBytes } from "node:crypto";
import { Agent, type IncomingMessage, type ServerResponse, createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { OPERATION_RESPONSES, OPERATIONS, type OperationId } from "../../generated/operations.js";
import { freePort } from "./free-port.js";
import { matchOperation } from "./match-operation.js";
import { bundledSpecPath } from "./package-root.js";
import { type PrismChild, startPrism } from "./prism-process.js";
import { type DeclaredStatus, type Scenario, ScenarioQueue, compileScenario } from "./scenarios.js";
import { type OperationOf, type OperationOrMethod, operationOf } from "./sdk-method-names.js";
import { validationErrorBody } from "./violations.js";

/** Options of `createMockServer`. */
export interface MockServerOptions {
  /** Port of the mock's URL; 0 picks a free one. @default 0 */
  port?: number | undefined;
  /** The only API key the mock accepts; any other gets the spec's 401. @default a generated `sk-mock-…` key */
  apiKey?: string | undefined;
  /** How long to wait for Prism to listen before giving up. @default 30000 ms */
  startTimeoutMs?: number | undefined;
}

/** One request the app sent, as the mock saw it. */
export interface RecordedRequest {
  /** The operation it matched, or undefined for a path the spec does not have. */
  operationId: OperationId | undefined;
  method: string;
  /** The path without the query string, e.g. `/v1/runs/run_8f3a2c1d9e7b4a60`. */
  path: string;
  /** The query parameters (a repeated one as an array). */
  query: Record<string, string | string[]>;
  /** Request headers, lower-case; `authorization` is redacted to `Bearer [redacted]`. */
  headers: Record<string, string>;
  /** The body: parsed JSON, else the text, or undefined when there was none. */
  body: unknown;
  /** The status the mock answered. */
  status: number;
  /** Whether a `respondWith` scenario answered it (rather than Prism or the key check). */
  scenario: boolean;
}

/** A running contract mock of the API; see `createMockServer`. */
export interface MockServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:51234`. */
  readonly url: string;
  /** The API key the mock accepts. */
  readonly apiKey: string;
  /** The spec it serves: the one bundled in the installed frontier-signal. */
  readonly specPath: string;
  /**
   * Makes matching requests answer `status` (first registered, first served; `times` defaults to
   * until `reset()`). Error statuses get a schema-valid error body, the spec's example with your
   * `code`, `message`, `param`, and `Retry-After` where the spec declares it.
   *
   * `operation` is an operationId (`createCheckpoint`) or the SDK method that calls it
   * (`saveState`, `trainBatch`, `embeddings`, `batchSample`, ...).
   *
   * @throws MockServerError at once for an unknown operationId or a status the spec does not
   *   declare for it (the message lists the allowed ones), or a body that breaks the schema.
   */
  respondWith<Op extends OperationOrMethod>(operation: Op, scenario: Scenario<DeclaredStatus<OperationOf<Op>>>): void;
  /** The requests received so far, in arrival order (only those of `operation`, an operationId or SDK method name, if given). */
  requests(operation?: OperationOrMethod): RecordedRequest[];
  /** Forgets every scenario and every recorded request. */
  reset(): void;
  /** Stops the mock and its Prism process; resolves once Prism has exited. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a contract mock of the API on 127.0.0.1: Prism serving the spec bundled in the
 * installed package (every operation, stateless, the spec's examples; every request validated,
 * an invalid one answered 422 naming the field as the real service does), behind a small proxy
 * that checks the API key, records requests and applies `respondWith` scenarios.
 *
 * Prism runs as a child process that exits with `close()`, with this process (also when it is
 * killed) and with a test that fails before closing it if the process ends.
 *
 * @throws MockServerError when `@stoplight/prism-cli` (an optional peer dependency) is missing
 *   or cannot run on this Node; the message says what to install.
 */
export async function createMockServer(options: MockServerOptions = {}): Promise<MockServer> {
  const apiKey = options.apiKey ?? `sk-mock-${randomBytes(12).toString("hex")}`;
  const specPath = bundledSpecPath();
  const scenarios = new ScenarioQueue();
  let records: RecordedRequest[] = [];
  const agent = new Agent({ keepAlive: true });

  let prism: PrismChild | undefined;
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 502, { "content-type": "text/plain" }, `mock server: ${(error as Error).message}`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readAll(req);
    const url = new URL(req.url ?? "/", "http://mock.invalid");
    const method = req.method ?? "GET";
    const match = matchOperation(method, url.pathname);
    const operationId = match.kind === "found" ? match.operationId : undefined;
    const authorized = req.headers.authorization === `Bearer ${apiKey}`;
    const record: RecordedRequest = {
      operationId,
      method,
      path: url.pathname,
      query: queryOf(url),
      headers: headersOf(req),
      body: parseBody(raw),
      status: 0,
      scenario: false,
    };
    records.push(record);
    const requestId = `req_${randomBytes(8).toString("hex")}`;
    const answer = (status: number, headers: Record<string, string>, body: unknown) => {
      record.status = status;
      const text = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
      send(res, status, { "content-type": "application/json", ...headers, "x-request-id": requestId }, text);
    };

    if (match.kind === "not_found") {
      return answer(404, {}, errorOf("not_found_error", "route_not_found", `No route ${method} ${url.pathname}; see openapi/signal.yaml.`, requestId));
    }
    if (match.kind === "method_not_allowed") {
      const allowed = match.allowed.join(" or ");
      return answer(
        405,
        { allow: match.allowed.join(", ") },
        errorOf("invalid_request_error", "method_not_allowed", `${method} is not allowed on ${url.pathname}; use ${allowed}.`, requestId),
      );
    }
    const op = OPERATIONS[match.operationId];
    if (op.secured && !authorized) {
      const unauthorized = (OPERATION_RESPONSES[match.operationId] as Record<string, { example?: unknown }>)["401"]?.example;
      return answer(401, {}, withRequestId(unauthorized, requestId));
    }
    const scenario = scenarios.take(match.operationId);
    if (scenario) {
      record.scenario = true;
      const body = scenario.body(requestId);
      if (body !== undefined) return answer(scenario.status, scenario.headers, body);
    }

    // Prism answers: the spec's example (or the one for the scenario's 2xx status).
    const headers = { ...req.headers };
    delete headers.host;
    delete headers.connection;
    headers["content-length"] = String(raw.length);
    if (scenario) headers.prefer = `code=${scenario.status}`;
    const upstream = await forward(prism!.url, { method, path: url.pathname + url.search, headers, body: raw });
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value === undefined || name === "sl-violations" || name === "content-length" || name === "connection" || name === "keep-alive" || name === "date")
        continue;
      out[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    Object.assign(out, scenario?.headers ?? {});
    const status = upstream.statusCode ?? 502;
    let body: string | Uint8Array = upstream.body;
    if (status >= 400 && String(upstream.headers["content-type"] ?? "").includes("json")) {
      const violation = status === 422 ? validationErrorBody(headerText(upstream.headers["sl-violations"]), requestId) : undefined;
      body = JSON.stringify(violation ?? withRequestId(parseBody(upstream.body), requestId));
    }
    record.status = status;
    send(res, status, { ...out, "x-request-id": requestId }, body);
  }

  function forward(
    base: string,
    request: { method: string; path: string; headers: IncomingMessage["headers"]; body: Buffer },
  ): Promise<{ statusCode: number | undefined; headers: IncomingMessage["headers"]; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(base + request.path, { method: request.method, headers: request.headers, agent }, (response) => {
        readAll(response).then((body) => resolve({ statusCode: response.statusCode, headers: response.headers, body }), reject);
      });
      upstream.on("error", reject);
      upstream.end(request.body);
    });
  }

  const listening = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const started = freePort().then((port) => startPrism({ mock: specPath }, port, options.startTimeoutMs ?? 30_000));
  try {
    [prism] = await Promise.all([started, listening]);
  } catch (error) {
    server.close();
    await started.then(
      (p) => p.stop(0),
      () => {},
    );
    throw error;
  }
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await Promise.all([closed, prism!.stop()]);
    })());

  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    specPath,
    respondWith(operation, scenario) {
      scenarios.add(compileScenario(operationOf(operation), scenario as Scenario));
    },
    requests: (operation) => {
      const operationId = operation === undefined ? undefined : operationOf(operation);
      return records.filter((r) => operationId === undefined || r.operationId === operationId).map((r) => structuredClone(r));
    },
    reset() {
      scenarios.clear();
      records = [];
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Uint8Array): void {
  res.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

function parseBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  const text = raw.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function queryOf(url: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    out[key] = all.length === 1 ? all[0]! : all;
  }
  return out;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name] = name === "authorization" ? "Bearer [redacted]" : Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function errorOf(type: string, code: string, message: string, requestId: string) {
  return { error: { type, code, message, request_id: requestId } };
}

/** An error body with this response's request id in it. */
function withRequestId(body: unknown, requestId: string): unknown {
  const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
  return error ? { ...(body as object), error: { ...error, request_id: requestId } } : body;
}
