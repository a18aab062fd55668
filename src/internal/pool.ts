/**
 * What "connection pool" means here. Node's global `fetch` keeps idle keep-alive connections
 * per origin in one process-wide dispatcher, and the SDK has no public way to make another one
 * without the `undici` package. So a `Pool` is the unit of sharing the SDK controls: the fetch
 * function every request goes through (and so its connections), the set of requests in flight,
 * and the right to close them. Clients made from one `SignalClient` share its pool, so closing
 * one of them never cancels another's requests; standalone clients own theirs, and `close()`
 * of the owner aborts what is still in flight and refuses new requests.
 */
export class Pool {
  readonly fetch: (request: Request) => Promise<Response>;
  /** True when the caller gave no fetch: requests can go to the global fetch as (url, init). */
  readonly #native: boolean;
  readonly #inFlight = new Set<AbortController>();
  readonly #closing = new AbortController();
  /** What waits between attempts; a Set rather than listeners on one shared AbortSignal, which
   * past 10 waiting calls would print Node's MaxListenersExceededWarning. */
  readonly #onClose = new Set<() => void>();

  constructor(fetchImpl: ((request: Request) => Promise<Response>) | undefined) {
    const base = fetchImpl ?? ((request: Request) => globalThis.fetch(request));
    this.fetch = base;
    this.#native = fetchImpl === undefined;
  }

  /**
   * Sends one attempt. With the global fetch it passes (url, init) straight through: building a
   * WHATWG Request first costs ~100 µs in Node 20 and the global fetch would copy it anyway. An
   * injected fetch gets the Request it was promised.
   */
  send(url: string, init: RequestInit): Promise<Response> {
    return this.#native ? globalThis.fetch(url, init) : this.fetch(new Request(url, init));
  }

  /** True once `close()` ran; new requests fail with APIConnectionError. */
  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /** Calls `listener` once when the pool closes; the returned function unsubscribes it. */
  onClose(listener: () => void): () => void {
    this.#onClose.add(listener);
    return () => this.#onClose.delete(listener);
  }

  /** Requests currently in flight on this pool. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  track(controller: AbortController): void {
    this.#inFlight.add(controller);
  }

  untrack(controller: AbortController): void {
    this.#inFlight.delete(controller);
  }

  /** Aborts every request in flight and refuses new ones. Idempotent. */
  close(): void {
    if (this.closed) return;
    const reason = new Error("client closed");
    this.#closing.abort(reason);
    for (const controller of this.#inFlight) controller.abort(reason);
    this.#inFlight.clear();
    for (const listener of this.#onClose) listener();
    this.#onClose.clear();
  }
}
