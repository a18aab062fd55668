import { Api } from "./core/api.js";
import type { Logger } from "./core/logger.js";
import { resolveLogger } from "./core/logger.js";
import { type Backoff, withOverrides, type RequestPolicy } from "./core/policy.js";
import { Pool } from "./core/pool.js";
import { readEnv, type EnvReader } from "./core/env.js";
import { SignalError } from "./errors.js";

export type { Logger } from "./core/logger.js";

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
  /** @default the `SIGNAL_BASE_URL` environment variable where the runtime has one, then `http://127.0.0.1:7300` */
  baseUrl?: string | undefined;
  /** Timeout of each attempt in ms. @default the client kind's policy (60 s simple, 1 h training, 30 s inference) */
  timeout?: number | undefined;
  /** Retries after the first attempt. @default the client kind's policy (2 simple, 3 training, 2 inference) */
  maxRetries?: number | undefined;
  /**
   * Replaces fields of the client kind's backoff, e.g. `{ initialDelay: 100, maxDelay: 2_000 }`.
   * `Retry-After` from the server still wins. @default the client kind's policy
   */
  backoff?: Partial<Backoff> | undefined;
  /**
   * The fetch every request goes through: the seam for tests, proxies and custom agents.
   * @default globalThis.fetch
   */
  fetch?: ((request: Request) => Promise<Response>) | undefined;
  /** Receives debug lines (method, URL, attempt, status, request id, timing; never headers or the key). @default a stderr logger when `SIGNAL_LOG=debug`, else none */
  logger?: Logger | undefined;
}

/**
 * Builds the connection of a client that owns its pool.
 * @throws SignalError when no API key is given and `SIGNAL_API_KEY` is not set.
 */
export function openApi(options: ClientOptions, policy: Readonly<RequestPolicy>, env: EnvReader = readEnv): Api {
  const apiKey = options.apiKey ?? env("SIGNAL_API_KEY");
  if (apiKey === undefined || apiKey === "") {
    throw new SignalError(
      "No API key: pass `apiKey` to the client or set the SIGNAL_API_KEY environment variable.",
    );
  }
  const baseUrl = options.baseUrl ?? env("SIGNAL_BASE_URL") ?? DEFAULT_BASE_URL;
  return new Api({
    baseUrl,
    apiKey,
    pool: new Pool(options.fetch),
    policy: withOverrides(policy, options),
    logger: resolveLogger(options.logger, env),
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
