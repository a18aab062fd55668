import createClient, { type Client } from "openapi-fetch";
import type { paths } from "../../generated/schema.js";

/** The typed low-level client: every operation of the spec, with request and response types. */
export type RawClient = Client<paths>;

export interface RawClientOptions {
  /** Base URL of the service, e.g. `http://127.0.0.1:7300`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omit for unauthenticated calls (getHealth). */
  apiKey?: string;
  /**
   * The fetch implementation. This is the transport seam: retries, timeouts and errors are
   * layered in here by the high-level clients, and tests inject a scripted fetch.
   * @default globalThis.fetch
   */
  fetch?: typeof globalThis.fetch;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

/**
 * Creates the typed low-level client over openapi-fetch. It returns `{ data, error, response }`
 * and never throws for HTTP errors; use `SignalClient` for retries, timeouts and typed errors.
 *
 * @example
 * const raw = createRawClient({ baseUrl: "http://127.0.0.1:7300", apiKey });
 * const { data, error } = await raw.GET("/v1/runs/{run_id}", { params: { path: { run_id } } });
 */
export function createRawClient(options: RawClientOptions): RawClient {
  const headers: Record<string, string> = { ...options.headers };
  if (options.apiKey !== undefined) headers.Authorization = `Bearer ${options.apiKey}`;
  return createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}
