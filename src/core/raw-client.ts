import createClient, { type Client, type MaybeOptionalInit, type ParseAs, type ParseAsResponse } from "openapi-fetch";
import type { ErrorResponse, HttpMethod, MediaType, PathsWithMethod, RequiredKeysOf, ResponseObjectMap, SuccessResponse } from "openapi-typescript-helpers";
import type { paths } from "../../generated/schema.js";

type Init<P extends keyof paths, M extends HttpMethod> = MaybeOptionalInit<paths[P], M> & { parseAs?: ParseAs };
type InitArg<I> = RequiredKeysOf<I> extends never ? [init?: I] : [init: I];
/**
 * openapi-fetch's `FetchResponse` without its `Readable` mapping (which strips writeOnly fields,
 * of which the spec has none, and expands the open enum types `"active" | (string & {})` into
 * string's members).
 */
// biome-ignore lint/suspicious/noExplicitAny: openapi-typescript-helpers' own constraint on operation objects.
type FetchResponse<T extends Record<string | number, any>, Options, Media extends MediaType> =
  | { data: ParseAsResponse<SuccessResponse<ResponseObjectMap<T>, Media>, Options>; error?: never; response: Response }
  | { data?: never; error: ErrorResponse<ResponseObjectMap<T>, Media>; response: Response };

type Method<M extends HttpMethod> = <P extends PathsWithMethod<paths, M>, I extends Init<P, M> = Init<P, M>>(
  url: P,
  ...init: InitArg<Init<P, M>>
  // biome-ignore lint/suspicious/noExplicitAny: openapi-typescript-helpers' own constraint on operation objects.
) => Promise<FetchResponse<Extract<paths[P][M], Record<string | number, any>>, I, `${string}/${string}`>>;

/**
 * The typed low-level client: every operation of the spec, with request and response types.
 *
 * Unlike openapi-fetch's own signature, the request options are checked as an exact type, so a
 * misspelt or unknown field in a body, query or path (`lora_rank` for `lora_r`) is a compile error.
 */
export interface RawClient {
  GET: Method<"get">;
  POST: Method<"post">;
  DELETE: Method<"delete">;
  /** The underlying openapi-fetch client (middleware, other methods). */
  readonly unchecked: Client<paths>;
}

export interface RawClientOptions {
  /** Base URL of the service, e.g. `http://127.0.0.1:7300`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omit for unauthenticated calls (getHealth). */
  apiKey?: string | undefined;
  /**
   * The fetch implementation. This is the transport seam: retries, timeouts and errors are
   * layered in here by the high-level clients, and tests inject a scripted fetch.
   * @default globalThis.fetch
   */
  fetch?: (input: Request) => Promise<Response>;
  /** Extra headers sent with every request. */
  headers?: Record<string, string> | undefined;
  /** The Request class openapi-fetch builds each call with. @default globalThis.Request */
  Request?: typeof globalThis.Request | undefined;
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
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.Request ? { Request: options.Request } : {}),
  });
  // The same functions, under a signature without openapi-fetch's open index type.
  return {
    GET: client.GET as unknown as Method<"get">,
    POST: client.POST as unknown as Method<"post">,
    DELETE: client.DELETE as unknown as Method<"delete">,
    unchecked: client,
  };
}
