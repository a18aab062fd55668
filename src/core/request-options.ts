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
}

/**
 * Extra `fetch` init fields (a Node `dispatcher` for a proxy or custom agent, `keepalive`,
 * `cache`, ...). The SDK's own `method`, `headers`, `body` and `signal` always win.
 */
export type FetchOptions = Omit<RequestInit, "method" | "headers" | "body" | "signal"> & Record<string, unknown>;
