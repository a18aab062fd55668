import { attachRequestId, type WithRequestId } from "./request-id.js";
import { BufferedResponse } from "../internal/lite-http.js";

/** What the transport hands back for one call: the 2xx response and its body, unparsed (not exported by the entry). */
export interface RawCall {
  response: Response | BufferedResponse;
  /** The body as the direct client read it (JSON value, bytes or stream). */
  data: unknown;
  requestId: string | undefined;
}

/** What `withResponse()` resolves to. */
export interface WithResponse<T> {
  /** The same value `await` gives. */
  data: WithRequestId<T>;
  /** The HTTP response (status, headers such as `idempotent-replayed`); its body was already read into `data`. */
  response: Response;
  /** The `x-request-id` of the response. */
  requestId: string | undefined;
}

/**
 * The promise every SDK method returns: a real `Promise` (so `.then`, `.catch`, `.finally`,
 * `instanceof Promise` and `Promise.all` work) that resolves to the parsed result, plus
 * `withResponse()` for the result and the HTTP response together and `asResponse()` for the
 * response alone. The request starts when the method is called, as with any promise; the body
 * is parsed and checked against the spec only when the result is asked for, so `asResponse()`
 * never throws for a body that breaks the contract.
 *
 * @example
 * const { data: run, response } = await client.getRun(runId).withResponse();
 * response.headers.get("x-request-id");
 */
export class APIPromise<T> extends Promise<WithRequestId<T>> {
  // Derived promises (then/catch/finally) are plain Promises; only SDK methods make APIPromises.
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  readonly #raw: Promise<RawCall>;
  readonly #parse: (raw: RawCall) => T | Promise<T>;
  #parsed: Promise<WithRequestId<T>> | undefined;

  /** @internal Made by the SDK's methods. */
  constructor(raw: Promise<RawCall>, parse: (raw: RawCall) => T | Promise<T>) {
    super(resolveNull);
    this.#raw = raw;
    this.#parse = parse;
  }

  /** @internal A call that fails before anything is sent (bad input, a closed client). */
  static _rejected<T>(error: unknown): APIPromise<T> {
    return new APIPromise<T>(Promise.reject(error), () => Promise.reject(error));
  }

  /** @internal The same call with its result transformed (e.g. a wire `Run` into a `SignalRun`). */
  _thenUnwrap<U>(transform: (data: T, raw: RawCall) => U | Promise<U>): APIPromise<U> {
    // The transformed value gets the request id (the derived promise attaches it); the
    // intermediate one does not need it.
    return new APIPromise(this.#raw, (raw) => {
      const data = this.#parse(raw);
      return data instanceof Promise ? data.then((value) => transform(value, raw)) : transform(data, raw);
    });
  }

  /** @internal The call's raw response, for promises that derive from this one (pages). */
  _raw(): Promise<RawCall> {
    return this.#raw;
  }

  /** The parsed result with its request id; synchronous when the parse is (the common case: no extra promise per layer). */
  #parseWithId(raw: RawCall): WithRequestId<T> | Promise<WithRequestId<T>> {
    const data = this.#parse(raw);
    return data instanceof Promise ? data.then((value) => attachRequestId(value, raw.requestId)) : attachRequestId(data, raw.requestId);
  }

  #result(): Promise<WithRequestId<T>> {
    this.#parsed ??= this.#raw.then((raw) => this.#parseWithId(raw));
    return this.#parsed;
  }

  /** The parsed result, the HTTP response and its request id. Rejects like the call itself. */
  async withResponse(): Promise<WithResponse<T>> {
    const [raw, data] = await Promise.all([this.#raw, this.#result()]);
    return { data, response: toWebResponse(raw.response), requestId: raw.requestId };
  }

  /**
   * The HTTP response of a successful call, without parsing its body. Failures (4xx/5xx after
   * retries, network errors) still reject with the SDK's errors.
   */
  async asResponse(): Promise<Response> {
    return toWebResponse((await this.#raw).response);
  }

  // biome-ignore lint/suspicious/noThenProperty: an APIPromise is a Promise; `then` parses the body on first use.
  override then<A = WithRequestId<T>, B = never>(
    onfulfilled?: ((value: WithRequestId<T>) => A | PromiseLike<A>) | null,
    // biome-ignore lint/suspicious/noExplicitAny: as in Promise's own signature, so callbacks written for a Promise fit.
    onrejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#result().then(onfulfilled, onrejected);
  }

  // biome-ignore lint/suspicious/noExplicitAny: as in Promise's own signature.
  override catch<B = never>(onrejected?: ((reason: any) => B | PromiseLike<B>) | null): Promise<WithRequestId<T> | B> {
    return this.#result().catch(onrejected);
  }

  override finally(onfinally?: (() => void) | null): Promise<WithRequestId<T>> {
    return this.#result().finally(onfinally);
  }
}

/** The executor of every APIPromise's own (unused) settlement: one function, not a closure per call. */
function resolveNull(resolve: (value: never) => void): void {
  resolve(null as never);
}

/** The WHATWG Response for a buffered one (made only when asked for: it costs ~100 µs in Node 20). */
function toWebResponse(response: Response | BufferedResponse): Response {
  if (!(response instanceof BufferedResponse)) return response;
  return new Response(response.status === 204 ? null : response.bytes, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
