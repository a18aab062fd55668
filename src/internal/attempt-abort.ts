/**
 * What stops one attempt: its timeout, the caller's `signal` or the client's `close()` abort the
 * signal handed to that attempt's `fetch`, and nothing else.
 *
 * Everywhere this is an `AbortController`, except under Node's own `fetch` (undici), where it is
 * a `LightAbort`: undici takes any object with `aborted` and `addEventListener` as a request's
 * signal (it supports third-party AbortControllers by design) and follows it with one listener.
 * In Node 20 a real AbortController and its AbortSignal (an EventTarget, with the listener
 * bookkeeping of one) cost ~10 µs of CPU per request, as much as the rest of the SDK's
 * per-call work; a `LightAbort` costs a small object. Whether the running `fetch` follows a
 * `LightAbort` is not assumed: it is tried once, by building a `Request` with one and aborting it
 * (browsers, Deno and Bun refuse a signal that is not an AbortSignal, and get AbortControllers).
 */
export interface AttemptAbort {
  /** What goes to `fetch` as `init.signal`. */
  readonly signal: AbortSignal;
  abort(reason?: unknown): void;
}

/** An AbortController for an attempt, or a LightAbort where the global `fetch` follows one. */
export function attemptAbort(globalFetch: boolean): AttemptAbort {
  if (!globalFetch) return new AbortController();
  if (lightWorks === undefined) lightWorks = probeLight();
  return lightWorks ? new LightAbort() : new AbortController();
}

let lightWorks: boolean | undefined;

const PROBE_REASON = new Error("probe");

/** True when a Request built with a LightAbort as its signal aborts with it (Node's undici). */
function probeLight(): boolean {
  try {
    if (typeof Request !== "function") return false;
    const light = new LightAbort();
    const request = new Request("http://127.0.0.1/", { signal: light.signal });
    light.abort(PROBE_REASON);
    return request.signal.aborted && request.signal.reason === PROBE_REASON;
  } catch {
    return false;
  }
}

type AbortListener = (this: LightAbort, event: { type: "abort" }) => void;

const NO_LISTENERS: readonly AbortListener[] = Object.freeze([]);

/**
 * The part of AbortController + AbortSignal that a `fetch` following a third-party signal reads:
 * `aborted`, `reason`, `addEventListener`/`removeEventListener` of "abort" (listeners called once,
 * with the signal as `this`), `throwIfAborted`. It is its own signal.
 */
export class LightAbort {
  aborted = false;
  reason: unknown = undefined;
  #listeners: AbortListener[] | undefined;
  /**
   * Read by Node's `events.getMaxListeners`, which undici calls to raise a signal's listener limit
   * when it is still the default: one that is already high needs no raising (and throws nothing).
   */
  readonly _maxListeners = 1500;

  get signal(): AbortSignal {
    return this as unknown as AbortSignal;
  }

  getMaxListeners(): number {
    return this._maxListeners;
  }

  /** What Node's `events.getEventListeners` reads of a non-EventTarget. */
  listeners(type: string): readonly AbortListener[] {
    return type === "abort" && this.#listeners !== undefined ? [...this.#listeners] : NO_LISTENERS;
  }

  addEventListener(type: string, listener: AbortListener | null): void {
    if (type !== "abort" || typeof listener !== "function" || this.aborted) return;
    if (this.#listeners === undefined) this.#listeners = [listener];
    else if (!this.#listeners.includes(listener)) this.#listeners.push(listener);
  }

  removeEventListener(type: string, listener: AbortListener | null): void {
    const listeners = this.#listeners;
    if (type !== "abort" || listeners === undefined) return;
    const at = listeners.indexOf(listener as AbortListener);
    if (at !== -1) listeners.splice(at, 1);
  }

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners === undefined) return;
    const event = { type: "abort" as const };
    for (const listener of listeners) {
      try {
        listener.call(this, event);
      } catch (error) {
        // As an EventTarget would: a throwing listener is reported, the others still run.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
