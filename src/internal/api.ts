import type * as z from "zod/mini";
import { APIResponseValidationError, ValidationError } from "../errors.js";
import { createDirectClient, type DirectClient } from "./direct-client.js";
import { clientHeaders } from "./client-header.js";
import { makeRedactor, type LevelLogger } from "./logger.js";
import type { Pool } from "./pool.js";
import type { RequestPolicy } from "../core/policy.js";
import { APIPromise, type RawCall } from "../core/api-promise.js";
import type { FetchOptions, RequestOptions } from "../core/request-options.js";
import { tolerantSchema } from "./tolerant-reader.js";
import { fastCheck } from "./fast-check.js";
import type { LiteRequest } from "./lite-http.js";
import { baseHeaders, createCallFetch, type TransportContext } from "./transport.js";
import { checkAgainst, formatPath, safeParseExpectingSuccess, summarizeIssues } from "./validate.js";

/** Everything a client needs to talk to the service. */
export interface ApiConfig {
  baseUrl: string;
  apiKey: string;
  pool: Pool;
  policy: Readonly<RequestPolicy>;
  logger: LevelLogger;
  defaultHeaders?: Record<string, string | null | undefined> | undefined;
  fetchOptions?: FetchOptions | undefined;
  random?: (() => number) | undefined;
  /** Check responses against the generated schemas as they are (see `ClientOptions`). @default false */
  strictResponseValidation?: boolean | undefined;
}

/** What a call's request builder gets: the call fetch (retries, timeouts, the error tree). */
export interface InvokeInit {
  fetch: (request: LiteRequest) => Promise<Response>;
}

/** A sent request's 2xx response and its body as read. */
export interface RawResult {
  data?: unknown;
  response: Response;
}

/**
 * One client's connection to the service: the direct client, the pool, the policy. Clients
 * hold one `Api` in a private field; `with` gives a child the same pool and key under another
 * policy or options. The key lives in private fields (the configuration, the transport's headers), nowhere else.
 */
export class Api {
  readonly baseUrl: string;
  readonly pool: Pool;
  readonly policy: Readonly<RequestPolicy>;
  readonly logger: LevelLogger;
  readonly raw: DirectClient;
  readonly redact: (text: string) => string;
  readonly #config: ApiConfig;
  readonly #transport: TransportContext;

  constructor(config: ApiConfig) {
    this.#config = config;
    this.baseUrl = config.baseUrl.replace(/\/+$/, "");
    this.pool = config.pool;
    this.policy = config.policy;
    this.logger = config.logger;
    this.redact = makeRedactor(config.apiKey);
    const headers = Object.entries({ ...clientHeaders(), ...config.defaultHeaders }).filter(
      (entry): entry is [string, string | null] => entry[1] !== undefined,
    );
    const authorization = `Bearer ${config.apiKey}`;
    this.#transport = {
      pool: this.pool,
      policy: this.policy,
      logger: this.logger,
      redact: this.redact,
      random: config.random,
      headers,
      authorization,
      baseHeaders: baseHeaders(headers, authorization),
      fetchOptions: config.fetchOptions,
    };
    // Every call passes its own fetch (the transport), which reads the LiteRequest directly.
    this.raw = createDirectClient(this.baseUrl);
  }

  /** The key, for building a sibling client. Not enumerable, not in any inspect output. */
  get apiKey(): string {
    return this.#config.apiKey;
  }

  /** The client's own `defaultHeaders`. */
  get defaultHeaders(): Record<string, string | null | undefined> | undefined {
    return this.#config.defaultHeaders;
  }

  /** The client's own `fetchOptions`. */
  get fetchOptions(): FetchOptions | undefined {
    return this.#config.fetchOptions;
  }

  /** The same pool and key under another policy. */
  withPolicy(policy: Readonly<RequestPolicy>): Api {
    return new Api({ ...this.#config, policy });
  }

  /** The same pool with some of the configuration replaced (`withOptions`). */
  with(changes: Partial<Omit<ApiConfig, "pool">>): Api {
    return new Api({ ...this.#config, ...changes });
  }

  /**
   * The schema responses are read with: the generated one under `strictResponseValidation`,
   * else its tolerant reader (unknown fields kept, unknown enum values passed through).
   */
  reader<S extends z.core.$ZodType>(schema: S): S {
    return this.#config.strictResponseValidation === true ? schema : tolerantSchema(schema);
  }

  /** The custom fetch for one logical call of `operation`. */
  fetchFor(operation: string, options?: RequestOptions): (request: LiteRequest) => Promise<Response> {
    return createCallFetch(this.#transport, operation, options);
  }

  /**
   * Runs one operation: `invoke` builds the request, the call fetch sends it (retrying,
   * throwing the error tree), and the 2xx body is checked against the response schema when the
   * result is asked for. `invoke` runs inside the call, so bad input it finds (ValidationError)
   * rejects the returned promise instead of throwing synchronously.
   * @throws APIResponseValidationError (as a rejection) when the body breaks the contract.
   */
  call<S extends z.core.$ZodType>(
    operation: string,
    responseSchema: S,
    invoke: (init: InvokeInit) => Promise<RawResult>,
    options?: RequestOptions,
  ): APIPromise<z.output<S>> {
    return new APIPromise(this.send(operation, invoke, options), (raw) => parseAgainst(operation, this.reader(responseSchema), raw));
  }

  /** Like `call` without a schema: for bodies that are bytes or streams. */
  async send(operation: string, invoke: (init: InvokeInit) => Promise<RawResult>, options?: RequestOptions): Promise<RawCall> {
    try {
      const { data, response } = await invoke({ fetch: this.fetchFor(operation, options) });
      return { data, response, requestId: response.headers.get("x-request-id") ?? undefined };
    } catch (error) {
      if (error instanceof SyntaxError) {
        throw new APIResponseValidationError(operation, "", "the body is not valid JSON", undefined, { cause: error });
      }
      throw error;
    }
  }
}

/**
 * Checks a 2xx body against its generated schema: a body the schema's quick check vouches for is
 * used as it is (see fast-check.ts), anything else is parsed by zod.
 * @throws APIResponseValidationError
 */
function parseAgainst<S extends z.core.$ZodType>(operation: string, schema: S, raw: RawCall): z.output<S> {
  const quick = fastCheck(schema);
  if (quick?.(raw.data) === true) return raw.data as z.output<S>;
  const parsed = safeParseExpectingSuccess(schema, raw.data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new APIResponseValidationError(operation, formatPath(issue?.path ?? []), issue?.message ?? "invalid", raw.requestId);
  }
  return parsed.data;
}

/**
 * Checks a request value against its generated schema before anything is sent.
 * @throws ValidationError naming the first field at fault, e.g. `createRun: lora_r: Too big ...`.
 */
export function validateInput<S extends z.core.$ZodType>(operation: string, schema: S, value: unknown, prefix = ""): z.output<S> {
  const checked = checkAgainst(schema, value);
  if (checked.ok) return checked.value;
  const issues = checked.issues.map((issue) => ({
    path: prefix === "" ? issue.path : issue.path === "" ? prefix : `${prefix}.${issue.path}`,
    message: issue.message,
  }));
  throw new ValidationError(`${operation}: ${summarizeIssues(issues)}`, issues);
}
