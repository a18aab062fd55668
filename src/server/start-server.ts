import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { AdapterCache } from "./runs/adapter-cache.js";
import { createAuthenticator } from "./http/auth.js";
import { answerClientError } from "./http/client-error.js";
import { normalizeCorsOrigins } from "./http/cors.js";
import { hostPolicy } from "./http/host-check.js";
import { findConsoleDir } from "./http/console.js";
import type { Services } from "./context.js";
import { DEFAULT_MODEL_ID, ENGINE_DEFAULTS, type HfModelSource, createEngine } from "./engine/index.js";
import type { Engine } from "./engine/types.js";
import { type PipelineOptions, createRequestListener } from "./http/handle-request.js";
import { HANDLERS } from "./handlers/index.js";
import { IdempotencyStore } from "./store/idempotency.js";
import { newApiKey } from "./store/ids.js";
import { LiveRuns } from "./runs/live-runs.js";
import { CallSequencer, SEQUENCE_DEFAULTS } from "./runs/call-sequencer.js";
import { RunQueue } from "./runs/run-queue.js";
import { MemoryRunStore } from "./store/memory-run-store.js";
import { RunStore, type RunStorage } from "./store/run-store.js";
import { RunEvents } from "./runs/run-events.js";
import { CheckpointExpiry, EXPIRY_DEFAULTS } from "./runs/checkpoint-expiry.js";
import { Admission } from "./runs/admission.js";
import { guardConnections } from "./http/connection-guard.js";
import { type ServerLimits, resolveLimits } from "./limits.js";
import { VERSION } from "../core/version.js";

/** Options of `startServer`. */
export interface ServerOptions {
  /** TCP port; 0 picks any free port (read it from the returned `url`). @default 7300 */
  port?: number;
  /** Interface to listen on. @default "127.0.0.1" */
  host?: string;
  /**
   * Where runs, checkpoints and idempotency records are kept. `":memory:"` keeps them in memory
   * only (nothing on disk, no better-sqlite3 needed; gone when the process ends): for
   * throw-away servers such as an app's tests.
   * @default ".signal" (relative to the working directory)
   */
  dataDir?: string;
  /**
   * Accepted API keys. @default the comma-separated `SIGNAL_API_KEYS`; when that is empty too,
   * one key is generated and printed once through `log`.
   */
  apiKeys?: string[];
  /**
   * An engine to use instead of starting one (e.g. shared by several servers in tests); the
   * server does not close an engine it was given.
   */
  engine?: Engine;
  /** Worker threads of the engine the server starts. @default 2 */
  workers?: number;
  /**
   * Hugging Face checkpoint folders to fine-tune and sample, next to the built-in models: each a
   * folder as downloaded (`config.json`, `model.safetensors` or shards with
   * `model.safetensors.index.json`, F32/F16/BF16, `tokenizer.json`, `tokenizer_config.json`,
   * `generation_config.json` when present) of a `LlamaForCausalLM`, `MistralForCausalLM`,
   * `Qwen2ForCausalLM` or `Qwen3ForCausalLM`. The id is the folder's name unless `id` is given;
   * `contextLength` caps the context below `max_position_embeddings`. Ignored with `engine`.
   * @throws CheckpointError from `startServer`, one line naming the folder or file and the problem.
   */
  models?: HfModelSource[];
  /**
   * The model `listModels` marks `default: true` and lists first, e.g. `signal-byte-tiny` for
   * fast tests. @default "signal-byte-base"
   * @throws Error from `startServer` when the engine has no such model.
   */
  defaultModel?: string;
  /** Largest request body accepted; bigger ones get 413. @default 8 MiB */
  bodyLimitBytes?: number;
  /** Connection, queue, size and memory bounds; see `ServerLimits` for each default. */
  limits?: Partial<ServerLimits>;
  /**
   * Receives one line per request (method, path, status, ms, request id) and the server's own
   * notices; `false` silences them. Never receives an API key, except the generated one.
   * @default writes to stdout
   */
  log?: ((line: string) => void) | false;
  /**
   * Longest a pipelined call (`Signal-Sequence`) is held waiting for a missing predecessor;
   * then the gap is given up and the calls after it are refused (409 `sequence_broken`). A
   * held call counts against its key's `limits.maxHeldPerKey`, not the server's queue, and is
   * dropped as soon as its client disconnects. @default 30000
   */
  sequenceHoldMs?: number;
  /**
   * Page origins that may call the server from a browser (CORS), exact origins such as
   * `http://localhost:5173`, or `"*"` for any. Preflights are answered with the route's methods
   * and the headers the SDK sends; `x-request-id`, `Retry-After` and `idempotent-replayed` are
   * exposed to scripts.
   * @default loopback origins only (`localhost`, `127.0.0.0/8`, `[::1]`, any scheme and port)
   * @throws Error from `startServer` for an entry that is neither `*` nor an http(s) origin.
   */
  corsOrigins?: string[];
  /**
   * Host names the server answers under besides loopback ones, when it listens on a loopback
   * address: a request whose `Host` header names anything else is refused 403
   * `host_not_allowed`, so a web page on a domain that resolves to 127.0.0.1 (DNS rebinding)
   * cannot reach it. Names or addresses without scheme or port, e.g. `dev.example.test`. A
   * server listening beyond loopback (`host: "0.0.0.0"`) answers any `Host`.
   * @default [] (loopback names and addresses only: `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`)
   * @throws Error from `startServer` for an entry that is not a host name or address.
   */
  allowedHosts?: string[];
  /**
   * Serve the web console at `/` (runs, live curves, checkpoints, a playground), a static page
   * under a strict Content-Security-Policy that calls this server's API with the key typed into
   * it. `false` turns it off (`--no-console`). @default true
   */
  console?: boolean;
  /** Where the console's built files are. @default the ones shipped in the package (`dist/console`) */
  consoleDir?: string;
  /**
   * The time now in epoch ms, on which checkpoint lifetimes (`ttl_seconds`, `expires_at`) are
   * measured; tests pass a clock they move. @default Date.now
   */
  clock?: () => number;
  /** How often expired checkpoints no request asked for are looked for and removed. @default 60 000 ms */
  checkpointSweepMs?: number;
}

/** The `dataDir` that keeps the runs in memory. */
const MEMORY = ":memory:";

/** The defaults of `ServerOptions`, documented there. */
export const SERVER_DEFAULTS = {
  port: 7300,
  host: "127.0.0.1",
  dataDir: ".signal",
  workers: ENGINE_DEFAULTS.workers,
  bodyLimitBytes: 8 * 1024 * 1024,
  sequenceHoldMs: SEQUENCE_DEFAULTS.holdMs,
} as const;

/** The server version reported by getHealth: the package's. */
export const SERVER_VERSION = VERSION;

/** A running server. */
export interface RunningServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:7300`. */
  url: string;
  /** The web console's address (`url` + `/`), or `undefined` when it is off or not built. */
  consoleUrl: string | undefined;
  /** The accepted API keys (including a generated one). */
  apiKeys: string[];
  /**
   * Stops accepting connections, lets queued training calls finish and persist, closes open
   * connections and stops the engine if the server started it.
   */
  close(): Promise<void>;
}

/**
 * Starts the local reference server: every operation of `openapi/signal.yaml`, for real, on the
 * local engine, with runs persisted in `dataDir`.
 *
 * @throws Error when the port cannot be bound, the data directory cannot be used, or the
 *   engine's tensor library is missing (the message names the `npm install` command).
 */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const limits = resolveLimits(options.limits);
  const corsOrigins = normalizeCorsOrigins(options.corsOrigins);
  const hosts = hostPolicy(options.host ?? SERVER_DEFAULTS.host, options.allowedHosts);
  const log = options.log === false ? undefined : (options.log ?? ((line: string) => process.stdout.write(`${line}\n`)));
  const apiKeys = resolveKeys(options.apiKeys);
  if (apiKeys.length === 0) {
    const key = newApiKey();
    apiKeys.push(key);
    log?.(`No API key configured (set SIGNAL_API_KEYS or pass --api-key); generated one for this process: ${key}`);
  }
  const dataDir = options.dataDir ?? SERVER_DEFAULTS.dataDir;
  const store: RunStorage = dataDir === MEMORY ? new MemoryRunStore() : await RunStore.open(dataDir, (message) => log?.(`warning: ${message}`));
  const idempotency = new IdempotencyStore(store, (runId) => store.get(runId));
  const ownsEngine = options.engine === undefined;
  let engine: Engine;
  try {
    engine =
      options.engine ??
      (await createEngine({ workers: options.workers ?? SERVER_DEFAULTS.workers, kvBudgetBytes: limits.kvBudgetBytes, models: options.models ?? [] }));
  } catch (error) {
    store.close();
    throw error;
  }
  const models = engine.listModels();
  const defaultModelId = options.defaultModel ?? DEFAULT_MODEL_ID;
  if (!models.some((m) => m.id === defaultModelId)) {
    if (ownsEngine) await engine.close();
    throw new Error(`defaultModel: no model '${defaultModelId}'; the models are: ${models.map((m) => m.id).join(", ")}`);
  }
  models.sort((a, b) => Number(b.id === defaultModelId) - Number(a.id === defaultModelId));
  const queue = new RunQueue();
  const clock = options.clock ?? Date.now;
  const adapters = new AdapterCache(engine);
  const events = new RunEvents();
  const services: Services = {
    engine,
    store,
    idempotency,
    queue,
    sequencer: new CallSequencer(options.sequenceHoldMs ?? SERVER_DEFAULTS.sequenceHoldMs),
    live: new LiveRuns(engine, store, queue, limits),
    adapters,
    events,
    expiry: new CheckpointExpiry(store, queue, adapters, events, clock, options.checkpointSweepMs ?? EXPIRY_DEFAULTS.sweepMs),
    clock,
    admission: new Admission(limits),
    limits,
    models,
    defaultModelId,
    startedAt: Date.now(),
    version: SERVER_VERSION,
  };
  const consoleDir = options.console === false ? undefined : (options.consoleDir ?? findConsoleDir());
  if (options.console !== false && consoleDir === undefined) log?.("The web console is not built (run `npm run build`); serving the API only.");
  const pipeline: PipelineOptions = {
    handlers: HANDLERS,
    consoleDir,
    authenticate: createAuthenticator(apiKeys),
    bodyLimitBytes: options.bodyLimitBytes ?? SERVER_DEFAULTS.bodyLimitBytes,
    corsOrigins,
    hostPolicy: hosts,
    log,
    onInternalError: (error, requestId) => {
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log?.(`error ${requestId}: ${detail}`);
    },
    onInfrastructureError: (line, requestId) => log?.(`error ${requestId}: ${line}`),
  };
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often Node looks for requests past those timeouts (30 s by default).
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    createRequestListener(services, pipeline),
  );
  pipeline.guard = guardConnections(server, limits.maxConnections);
  server.on("clientError", (error: Error & { code?: string }, socket) => {
    const requestId = answerClientError(error, socket);
    if (requestId !== undefined) log?.(`- - ${error.code ?? "clientError"} ${requestId}`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? SERVER_DEFAULTS.port, options.host ?? SERVER_DEFAULTS.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    services.expiry.close();
    store.close();
    if (ownsEngine) await engine.close();
    throw error;
  }
  // Checkpoints that expired while the server was down go now, not a sweep interval later.
  void services.expiry.sweep();
  // Once listening, the server's errors are failed accepts (EMFILE under a descriptor limit):
  // the connection is lost, the server is not.
  server.on("error", (error: Error & { code?: string }) => log?.(`warning: accepting a connection failed: ${error.code ?? error.message}`));
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    consoleUrl: consoleDir === undefined ? undefined : `http://${host}:${address.port}/`,
    apiKeys: [...apiKeys],
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        services.live.close();
        services.expiry.close();
        await queue.idle();
        server.closeAllConnections();
        await closed;
        store.close();
        if (ownsEngine) await engine.close();
      })()),
  };
}

function resolveKeys(explicit: string[] | undefined): string[] {
  const source = explicit ?? (process.env.SIGNAL_API_KEYS ?? "").split(",");
  return source.map((k) => k.trim()).filter((k) => k !== "");
}
