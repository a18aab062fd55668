import { Api } from "./core/api.js";
import type { Logger } from "./core/logger.js";
import { resolveLogger } from "./core/logger.js";
import { type Backoff, withOverrides, type RequestPolicy } from "./core/policy.js";
import { Pool } from "./core/pool.js";
import { SignalError } from "./errors.js";

export type { Logger } from "./core/logger.js";

/** The local reference server's address, used when neither `baseUrl` nor `SIGNAL_BASE_URL` is set. */
export const DEFAULT_BASE_URL = "http://127.0.0.1:7300";

/** Options of every client that opens its own connection (SignalClient and the standalone clients). */
export interface ClientOptions {
  /**
   * Sent as `Authorization: Bearer <apiKey>`. Kept in a private field: it never appears in an
   * error, a log line, `JSON.stringify` or `util.inspect` of the client.
   * @default process.env.SIGNAL_API_KEY
   */
  apiKey?: string | undefined;
  /** @default process.env.SIGNAL_BASE_URL, then `http://127.0.0.1:7300` */
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
  /** Receives debug lines (method, URL, attempt, status, request id, timing; never headers or the key). @default a stderr logger when `SIGNAL_LOG=debug`, else none */
  logger?: Logger | undefined;
}

/**
 * Builds the connection of a client that owns its pool.
 * @throws SignalError when no API key is given and `SIGNAL_API_KEY` is not set.
 */
export function openApi(options: ClientOptions, policy: Readonly<RequestPolicy>, env: NodeJS.ProcessEnv = process.env): Api {
  const apiKey = options.apiKey ?? env.SIGNAL_API_KEY;
  if (apiKey === undefined || apiKey === "") {
    throw new SignalError(
      "No API key: pass `apiKey` to the client or set the SIGNAL_API_KEY environment variable.",
    );
  }
  const baseUrl = options.baseUrl ?? env.SIGNAL_BASE_URL ?? DEFAULT_BASE_URL;
  return new Api({
    baseUrl,
    apiKey,
    pool: new Pool(options.fetch),
    policy: withOverrides(policy, options),
    logger: resolveLogger(options.logger, env),
    strictResponseValidation: options.strictResponseValidation,
  });
}

/** `util.inspect`'s hook, so clients print without their key. */
export const inspectSymbol: unique symbol = Symbol.for("nodejs.util.inspect.custom") as never;
