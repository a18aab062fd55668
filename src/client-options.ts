import { Api } from "./internal/api.js";
import { checkBaseUrl, checkPolicyOptions } from "./internal/check-options.js";
import { readEnv } from "./internal/env.js";
import { resolveLogger, type LogLevel, type Logger } from "./internal/logger.js";
import { type Backoff, withOverrides, type RequestPolicy } from "./core/policy.js";
import { Pool } from "./internal/pool.js";
import type { FetchOptions } from "./core/request-options.js";
import { SignalError } from "./errors.js";
import { checkBrowserKey } from "./internal/browser-guard.js";

export type { Logger, LogLevel } from "./internal/logger.js";

/** The local reference server's address, used when neither `baseUrl` nor `SIGNAL_BASE_URL` is set. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:7300";

/** Options of every client that opens its own connection (SignalClient and the standalone clients). */
export interface ClientOptions {
  /**
   * Sent as `Authorization: Bearer <apiKey>`. Kept in a private field: it never appears in an
   * error, a log line, `JSON.stringify` or `util.inspect` of the client.
   * @default the `SIGNAL_API_KEY` environment variable where the runtime has one (Node, Bun, Deno)
   */
  apiKey?: string | undefined;
  /** An absolute http(s) URL. @default the `SIGNAL_BASE_URL` environment variable where the runtime has one, then `http://127.0.0.1:7300` */
  baseUrl?: string | undefined;
  /**
   * Timeout of each attempt in ms, an integer from 1 to 2,147,483,647 (the largest timer).
   * @default the client kind's policy (60 s simple, 1 h training, 30 s inference)
   */
  timeout?: number | undefined;
  /** Retries after the first attempt, a non-negative integer. @default the client kind's policy (2 simple, 3 training, 2 inference) */
  maxRetries?: number | undefined;
  /**
   * Replaces fields of the client kind's backoff, e.g. `{ initialDelay: 100, maxDelay: 2_000 }`.
   * `Retry-After` from the server still wins. @default the client kind's policy
   */
  backoff?: Partial<Backoff> | undefined;
  /**
   * Lets a client with an API key run in a browser-like runtime (a page or a worker) against a
   * non-loopback `baseUrl`. Without it such a client throws at construction: a key in a page is
   * readable by everyone who loads the page. Loopback URLs (`localhost`, `127.0.0.1`, `[::1]`:
   * the local server) are allowed either way; outside browsers it changes nothing.
   * @default false
   */
  dangerouslyAllowBrowser?: boolean | undefined;
  /**
   * The fetch every request goes through: the seam for tests, proxies and custom agents.
   * @default globalThis.fetch
   */
  fetch?: ((request: Request) => Promise<Response>) | undefined;
  /**
   * Merged into the init of every fetch: an undici `dispatcher` (a proxy, a custom agent),
   * `keepalive`, ... The SDK's method, headers, body and signal always win. @default none
   */
  fetchOptions?: FetchOptions | undefined;
  /**
   * Headers sent with every request; a call's `headers` override them, `null` removes one.
   * `Authorization` comes from `apiKey` only. @default none
   */
  defaultHeaders?: Record<string, string | null | undefined> | undefined;
  /**
   * Check every response against the spec's schemas exactly as generated: an unknown field is
   * dropped and an enum value the SDK does not know is an `APIResponseValidationError`. Off by
   * default, so an app on this SDK keeps working when the server adds a field or a value (the
   * tolerant reader: unknown fields are kept on the returned objects, unknown enum values are
   * passed through as strings; a missing required field or a known field of the wrong type is
   * still an `APIResponseValidationError`). Turn it on in tests against a server you own, to
   * catch drift from the spec.
   * @default false
   */
  strictResponseValidation?: boolean | undefined;
  /**
   * What the SDK logs: `debug` (every request, response and retry), `info` (retries), `warn`
   * (deprecated calls), `error`, `off`.
   * @default the SIGNAL_LOG environment variable, else `debug` when a `logger` is given (its own level filters), else `warn`
   */
  logLevel?: LogLevel | undefined;
  /**
   * Receives the lines (message plus fields: method, URL, attempt, status, request id, timing;
   * never headers or the key). Anything with `error`/`warn`/`info`/`debug`: console, pino, winston.
   * @default console (stderr in Node)
   */
  logger?: Partial<Logger> | undefined;
}

/**
 * Checks a client's options.
 * @throws SignalError naming the option and the value it got.
 */
export function checkClientOptions(options: ClientOptions): void {
  if (typeof options !== "object" || options === null) throw new SignalError(`Client options must be an object, got ${String(options)}.`);
  checkPolicyOptions(options);
  if (options.fetch !== undefined && typeof options.fetch !== "function") throw new SignalError("fetch must be a function.");
  if (options.defaultHeaders !== undefined && (typeof options.defaultHeaders !== "object" || options.defaultHeaders === null)) {
    throw new SignalError("defaultHeaders must be an object of header names to values.");
  }
  if (options.dangerouslyAllowBrowser !== undefined && typeof options.dangerouslyAllowBrowser !== "boolean") {
    throw new SignalError(`dangerouslyAllowBrowser must be true or false, got ${String(options.dangerouslyAllowBrowser)}.`);
  }
  if (options.strictResponseValidation !== undefined && typeof options.strictResponseValidation !== "boolean") {
    throw new SignalError(`strictResponseValidation must be true or false, got ${String(options.strictResponseValidation)}.`);
  }
}

/**
 * Builds the connection of a client that owns its pool.
 * @throws SignalError when no API key is given and `SIGNAL_API_KEY` is not set, or an option (or SIGNAL_BASE_URL, SIGNAL_LOG) is not valid.
 */
export function openApi(options: ClientOptions, policy: Readonly<RequestPolicy>, env: (name: string) => string | undefined = readEnv): Api {
  checkClientOptions(options);
  const apiKey = options.apiKey ?? env("SIGNAL_API_KEY");
  if (apiKey === undefined || apiKey === "") {
    throw new SignalError("No API key: pass `apiKey` to the client or set the SIGNAL_API_KEY environment variable.");
  }
  const fromEnv = env("SIGNAL_BASE_URL");
  const baseUrl =
    options.baseUrl !== undefined
      ? checkBaseUrl(options.baseUrl, "baseUrl")
      : fromEnv !== undefined && fromEnv !== ""
        ? checkBaseUrl(fromEnv, "SIGNAL_BASE_URL")
        : DEFAULT_BASE_URL;
  checkBrowserKey(baseUrl, options.dangerouslyAllowBrowser);
  return new Api({
    baseUrl,
    apiKey,
    pool: new Pool(options.fetch),
    policy: withOverrides(policy, options),
    logger: resolveLogger(options.logger, options.logLevel, env),
    defaultHeaders: options.defaultHeaders,
    fetchOptions: options.fetchOptions,
    strictResponseValidation: options.strictResponseValidation,
  });
}

declare global {
  /**
   * The clients implement `Symbol.asyncDispose` (`await using client = ...`). Declared here, as
   * `@types/node` and `lib.esnext.disposable` do, so that the declarations also compile for a
   * consumer whose `lib` predates it (`["ES2022", "DOM"]`) without `skipLibCheck`.
   */
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

/** `util.inspect`'s hook, so clients print without their key. */
export const inspectSymbol: unique symbol = Symbol.for("nodejs.util.inspect.custom") as never;
