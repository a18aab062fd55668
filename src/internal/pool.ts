import { APITimeoutError } from "../errors.js";

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
  /** The attempts in flight, as a list: adding and removing one allocates its node and nothing else. */
  readonly #inFlight: InFlight = { controller: undefined, deadline: Number.POSITIVE_INFINITY, prev: undefined, next: undefined };
  #inFlightCount = 0;
  /**
   * One timer for every attempt's timeout, armed for the earliest deadline in flight. An attempt
   * that ends leaves it armed (it then finds nothing to expire and stops), so a run of calls sets
   * it about once per timeout instead of a timer set and cleared per call. It holds the process
   * open only while attempts are in flight (`ref`/`unref` where timers have them: Node, Bun, Deno).
   */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
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

  /** True when requests go to the global fetch (no `fetch` option). */
  get native(): boolean {
    return this.#native;
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
    return this.#inFlightCount;
  }

  /**
   * Adds an attempt to what `close()` aborts, with the time (`Date.now()` ms) at which it is
   * aborted with an APITimeoutError unless it was `untrack`ed (or its deadline lifted) by then.
   */
  track(controller: Abortable, deadline: number): InFlight {
    const head = this.#inFlight;
    const node: InFlight = { controller, deadline, prev: head, next: head.next };
    if (head.next !== undefined) head.next.prev = node;
    head.next = node;
    if (this.#inFlightCount++ === 0) refTimer(this.#timer, true);
    if (deadline < this.#armedFor) this.#arm(deadline);
    return node;
  }

  untrack(node: InFlight): void {
    if (node.prev === undefined) return;
    node.prev.next = node.next;
    if (node.next !== undefined) node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
    if (--this.#inFlightCount === 0) refTimer(this.#timer, false);
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = deadline;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, deadline - Date.now()));
    if (this.#inFlightCount === 0) refTimer(this.#timer, false);
  }

  /** Expires every attempt past its deadline, and arms the timer for the next one. */
  #expire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (let node = this.#inFlight.next; node !== undefined; node = node.next) {
      if (node.deadline <= now) {
        node.deadline = Number.POSITIVE_INFINITY;
        node.controller?.abort(new APITimeoutError());
      } else if (node.deadline < next) next = node.deadline;
    }
    if (next !== Number.POSITIVE_INFINITY && !this.closed) this.#arm(next);
  }

  /** Aborts every request in flight and refuses new ones. Idempotent. */
  close(): void {
    if (this.closed) return;
    const reason = new Error("client closed");
    this.#closing.abort(reason);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (let node = this.#inFlight.next; node !== undefined; ) {
      const next = node.next;
      this.untrack(node);
      node.controller?.abort(reason);
      node = next;
    }
    for (const listener of this.#onClose) listener();
    this.#onClose.clear();
  }
}

/** What the pool can abort: an AbortController, or the LightAbort of an attempt. */
interface Abortable {
  abort(reason?: unknown): void;
}

/** A node of the pool's list of attempts in flight (the list's head has no controller). */
export interface InFlight {
  readonly controller: Abortable | undefined;
  /** When the attempt times out (`Date.now()` ms); `Infinity` once it no longer can (expired, or streaming). */
  deadline: number;
  prev: InFlight | undefined;
  next: InFlight | undefined;
}

/** `ref()`/`unref()` a timer where timers have them (a browser's are numbers). */
function refTimer(timer: ReturnType<typeof setTimeout> | undefined, ref: boolean): void {
  const handle = timer as { ref?: () => void; unref?: () => void } | undefined;
  if (typeof handle !== "object" || handle === null) return;
  if (ref) handle.ref?.();
  else handle.unref?.();
}
