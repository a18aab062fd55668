/** Per-call options every SDK method accepts as its last argument. */
export interface RequestOptions {
  /** Aborts the call (every attempt and any wait between them) with `APIUserAbortError`. Never retried. */
  signal?: AbortSignal | undefined;
  /** Timeout of each attempt in ms, an integer from 1 to 2,147,483,647. @default the client's */
  timeout?: number | undefined;
  /** Retries after the first attempt, a non-negative integer. @default the client's */
  maxRetries?: number | undefined;
  /** The Idempotency-Key of this call (POST only). @default a new random key, reused by the call's retries */
  idempotencyKey?: string | undefined;
  /**
   * Extra headers of this call (e.g. `Prefer` for a mock server); `null` removes a default
   * header. Cannot replace `Authorization`.
   */
  headers?: Record<string, string | null | undefined> | undefined;
  /** Merged into this call's `fetch` init, over the client's `fetchOptions`. */
  fetchOptions?: FetchOptions | undefined;
  /**
   * Extra fields of the JSON body, sent as given: merged over the body the SDK builds (a key
   * here wins) after the SDK's own checks, so a field a newer server accepts can be sent from an
   * SDK that does not know it. Nothing here is validated. Not for calls without a body (GET).
   * @example client.createRun(params, { extraBody: { priority: "high" } })
   */
  extraBody?: Record<string, unknown> | undefined;
  /**
   * Extra query parameters, added to the URL as given (a key here replaces the SDK's own; an
   * `undefined` value is skipped). Nothing here is validated.
   * @example client.listRuns({}, { extraQuery: { status: "paused" } })
   */
  extraQuery?: Record<string, string | number | boolean | undefined> | undefined;
}

/**
 * Extra `fetch` init fields (a Node `dispatcher` for a proxy or custom agent, `keepalive`,
 * `cache`, ...). The SDK's own `method`, `headers`, `body` and `signal` always win.
 */
export type FetchOptions = Omit<RequestInit, "method" | "headers" | "body" | "signal"> & Record<string, unknown>;

/** @internal What the SDK's own clients add to a call's options. */
export interface CallOptions extends RequestOptions {
  /**
   * Gives the call its `Signal-Sequence` header, once, just before its first attempt is sent
   * (so a call refused by the SDK's own checks takes no position); its retries reuse it.
   */
  sequence?: (() => string) | undefined;
}
