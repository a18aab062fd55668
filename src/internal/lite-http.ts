/**
 * Light stand-ins for the WHATWG `Request` and `Response` on the SDK's hot path.
 *
 * In Node 20 each `new Request(url, { body })` or `new Response(bytes)` builds web streams and
 * an AbortSignal and costs on the order of 100 µs — more than parsing and validating a typical
 * body. The direct client (direct-client.ts) builds a `LiteRequest` (url, method, headers, body
 * text), the transport makes the one real `Request` per attempt that goes to `fetch`, and hands
 * back a `BufferedResponse` over the bytes it already read (inside the attempt, so the timeout
 * covers them) instead of a second Response.
 */
/**
 * What `LiteRequest` takes as headers. Spelled out rather than DOM's `HeadersInit`, which a
 * Node-only project (`lib` without DOM, `@types/node` only) does not have.
 */
type HeaderValues = Headers | Record<string, string> | [string, string][];

export class LiteRequest {
  readonly url: string;
  readonly method: string;
  /** The serialized (JSON) body, if any. */
  readonly bodyText: string | undefined;
  readonly #init: HeaderValues | undefined;
  #headers: Headers | undefined;

  constructor(url: string | URL, init: { method?: string; headers?: HeaderValues | undefined; body?: unknown } = {}) {
    this.url = String(url);
    this.method = (init.method ?? "GET").toUpperCase();
    this.#init = init.headers;
    if (init.body !== undefined && init.body !== null && typeof init.body !== "string") {
      throw new TypeError("LiteRequest carries text bodies only");
    }
    this.bodyText = init.body ?? undefined;
  }

  /** The headers as a `Headers` (made on first use: the transport reads them with `forEachHeader`). */
  get headers(): Headers {
    this.#headers ??= new Headers(this.#init);
    return this.#headers;
  }

  /** True when the request carries headers of its own. */
  get hasHeaders(): boolean {
    return this.#init !== undefined;
  }

  /** Calls `fn` for each header without building a `Headers` when they were given as a plain object. */
  forEachHeader(fn: (value: string, name: string) => void): void {
    const init = this.#init;
    if (init === undefined && this.#headers === undefined) return;
    if (this.#headers === undefined && init !== undefined && !Array.isArray(init) && !(init instanceof Headers)) {
      for (const [name, value] of Object.entries(init as Record<string, string>)) fn(value, name);
    } else this.headers.forEach(fn);
  }
}

/** One decoder for every body (making one costs more than decoding a small body). */
export const UTF8: { decode(input: ArrayBuffer | ArrayBufferView): string } = new TextDecoder();

/** A fully read 2xx response, shaped like the part of `Response` the SDK reads (and `asResponse()` converts). */
export class BufferedResponse {
  readonly ok: boolean;
  readonly redirected = false;
  readonly type = "basic";
  readonly body = null;
  bodyUsed = false;

  constructor(
    readonly bytes: ArrayBuffer,
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    readonly url: string,
  ) {
    this.ok = status >= 200 && status < 300;
  }

  async text(): Promise<string> {
    return this.textNow();
  }

  /** `text()` without the promise: the bytes are already here. */
  textNow(): string {
    this.bodyUsed = true;
    return UTF8.decode(this.bytes);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    this.bodyUsed = true;
    return this.bytes;
  }

  async blob(): Promise<Blob> {
    this.bodyUsed = true;
    return new Blob([this.bytes]);
  }
}
