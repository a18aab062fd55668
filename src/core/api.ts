import type { z } from "zod";
import { safeParse } from "zod/v4/core";
import { APIResponseValidationError, ValidationError } from "../errors.js";
import { LiteRequest } from "./lite-http.js";
import { createRawClient, type RawClient } from "./raw-client.js";
import type { Logger } from "./logger.js";
import { makeRedactor } from "./logger.js";
import type { Pool } from "./pool.js";
import type { RequestPolicy } from "./policy.js";
import { attachRequestId, type WithRequestId } from "./request-id.js";
import { tolerantSchema } from "./tolerant-reader.js";
import { createCallFetch, type RequestOptions } from "./transport.js";
import { checkAgainst, formatPath, summarizeIssues } from "./validate.js";

/** Everything a client needs to talk to the service. */
export interface ApiConfig {
  baseUrl: string;
  apiKey: string;
  pool: Pool;
  policy: Readonly<RequestPolicy>;
  logger: Logger | undefined;
  random?: (() => number) | undefined;
  /** Check responses against the generated schemas as they are (see `ClientOptions`). @default false */
  strictResponseValidation?: boolean | undefined;
}

/** The per-request pieces openapi-fetch accepts: our call fetch, and how to parse the body. */
export interface InvokeInit {
  fetch: (request: Request) => Promise<Response>;
}

/** The shape openapi-fetch resolves to. */
export interface RawResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/**
 * One client's connection to the service: the typed raw client, the pool, the policy. Clients
 * hold one `Api` in a private field; `withPolicy` gives a child the same pool and key under
 * another policy. The key lives in a private field and in openapi-fetch's closure, nowhere else.
 */
export class Api {
  readonly baseUrl: string;
  readonly pool: Pool;
  readonly policy: Readonly<RequestPolicy>;
  readonly logger: Logger | undefined;
  readonly raw: RawClient;
  readonly redact: (text: string) => string;
  readonly strictResponseValidation: boolean;
  readonly #apiKey: string;
  readonly #random: (() => number) | undefined;

  constructor(config: ApiConfig) {
    this.baseUrl = config.baseUrl.replace(/\/+$/, "");
    this.pool = config.pool;
    this.policy = config.policy;
    this.logger = config.logger;
    this.#apiKey = config.apiKey;
    this.#random = config.random;
    this.strictResponseValidation = config.strictResponseValidation ?? false;
    this.redact = makeRedactor(config.apiKey);
    // Every call passes its own fetch (the transport), which reads the LiteRequest directly.
    this.raw = createRawClient({
      baseUrl: this.baseUrl,
      apiKey: config.apiKey,
      fetch: config.pool.fetch,
      Request: LiteRequest as unknown as typeof Request,
    });
  }

  /** The key, for building a sibling client. Not enumerable, not in any inspect output. */
  get apiKey(): string {
    return this.#apiKey;
  }

  /** The same pool and key under another policy. */
  withPolicy(policy: Readonly<RequestPolicy>): Api {
    return new Api({
      baseUrl: this.baseUrl,
      apiKey: this.#apiKey,
      pool: this.pool,
      policy,
      logger: this.logger,
      random: this.#random,
      strictResponseValidation: this.strictResponseValidation,
    });
  }

  /**
   * The schema responses are read with: the generated one under `strictResponseValidation`,
   * else its tolerant reader (unknown fields kept, unknown enum values passed through).
   */
  reader<S extends z.ZodType>(schema: S): S {
    return this.strictResponseValidation ? schema : tolerantSchema(schema);
  }

  /** The custom fetch for one logical call of `operation`. */
  fetchFor(operation: string, options?: RequestOptions): (request: Request) => Promise<Response> {
    return createCallFetch(
      { pool: this.pool, policy: this.policy, logger: this.logger, redact: this.redact, random: this.#random },
      operation,
      options,
    );
  }

  /**
   * Runs one operation: openapi-fetch builds the request, the call fetch sends it (retrying,
   * throwing the error tree), and the 2xx body is checked against the response schema.
   * @throws APIResponseValidationError when the body breaks the contract.
   */
  async call<S extends z.ZodType>(
    operation: string,
    responseSchema: S,
    invoke: (init: InvokeInit) => Promise<RawResult>,
    options?: RequestOptions,
  ): Promise<WithRequestId<z.output<S>>> {
    const { data, response } = await this.send(operation, invoke, options);
    const requestId = response.headers.get("x-request-id") ?? undefined;
    const parsed = safeParse(this.reader(responseSchema), data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new APIResponseValidationError(operation, formatPath(issue?.path ?? []), issue?.message ?? "invalid", requestId);
    }
    return attachRequestId(parsed.data, requestId);
  }

  /** Like `call` without a schema: for bodies that are bytes or streams. */
  async send(operation: string, invoke: (init: InvokeInit) => Promise<RawResult>, options?: RequestOptions): Promise<RawResult> {
    try {
      return await invoke({ fetch: this.fetchFor(operation, options) });
    } catch (error) {
      if (error instanceof SyntaxError) {
        throw new APIResponseValidationError(operation, "", "the body is not valid JSON", undefined, { cause: error });
      }
      throw error;
    }
  }
}

/**
 * Checks a request value against its generated schema before anything is sent.
 * @throws ValidationError naming the first field at fault, e.g. `createRun: lora_r: Too big ...`.
 */
export function validateInput<S extends z.ZodType>(operation: string, schema: S, value: unknown, prefix = ""): z.output<S> {
  const checked = checkAgainst(schema, value);
  if (checked.ok) return checked.value;
  const issues = checked.issues.map((issue) => ({
    path: prefix === "" ? issue.path : issue.path === "" ? prefix : `${prefix}.${issue.path}`,
    message: issue.message,
  }));
  throw new ValidationError(`${operation}: ${summarizeIssues(issues)}`, issues);
}
