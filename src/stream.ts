import { SignalError } from "./errors.js";

/**
 * A stream of server-sent items (`streamSample` yields `SampleChunk`s). Iterate it once with
 * `for await`; leaving the loop early (break, return, throw) aborts the request. The request is
 * sent when iteration starts.
 *
 * Every failure, before or after the response headers, is a `SignalError`: a user abort
 * (`options.signal` or `stream.controller.abort()`) is `APIUserAbortError`, a reset connection
 * or `client.close()` is `APIConnectionError`, an `event: error` frame the mapped `APIError`.
 *
 * @example
 * const stream = inference.streamSample("Q: 2+2?\nA:", { max_tokens: 8 });
 * for await (const chunk of stream) process.stdout.write(chunk.delta);
 */
export class Stream<Item> implements AsyncIterable<Item> {
  /** Aborts the request (and so the iteration, with `APIUserAbortError`). */
  readonly controller: AbortController;
  readonly #iterate: (signal: AbortSignal) => AsyncIterator<Item>;
  #consumed = false;

  /** @internal Made by `streamSample`, `tee()` and `fromReadableStream`. */
  constructor(iterate: (signal: AbortSignal) => AsyncIterator<Item>, controller: AbortController = new AbortController()) {
    this.#iterate = iterate;
    this.controller = controller;
  }

  /**
   * The items of a `ReadableStream` of newline-delimited JSON, as `toReadableStream()` makes
   * them (e.g. a stream sent from a server route to a browser).
   */
  static fromReadableStream<Item>(readable: ReadableStream<Uint8Array>, controller: AbortController = new AbortController()): Stream<Item> {
    return new Stream<Item>(async function* () {
      const reader = readable.pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader();
      let buffered = "";
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffered += value;
          for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            if (line.trim() !== "") yield JSON.parse(line) as Item;
          }
        }
        if (buffered.trim() !== "") yield JSON.parse(buffered) as Item;
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    }, controller);
  }

  [Symbol.asyncIterator](): AsyncIterator<Item> {
    if (this.#consumed) {
      throw new SignalError("This stream was already iterated: a Stream is read once (use tee() to read it twice).");
    }
    this.#consumed = true;
    return this.#iterate(this.controller.signal);
  }

  /**
   * Two streams over the same items, each read at its own pace (items are buffered for the
   * slower one). Aborting the shared `controller` aborts both.
   */
  tee(): [Stream<Item>, Stream<Item>] {
    const queues: [Array<Promise<IteratorResult<Item>>>, Array<Promise<IteratorResult<Item>>>] = [[], []];
    const stopped = [false, false];
    let source: AsyncIterator<Item> | undefined;
    const side = (index: 0 | 1): Stream<Item> =>
      new Stream<Item>(
        () => ({
          next: () => {
            const queue = queues[index];
            if (queue.length === 0) {
              source ??= this[Symbol.asyncIterator]();
              const result = source.next();
              if (!stopped[0]) queues[0].push(result);
              if (!stopped[1]) queues[1].push(result);
            }
            return queue.shift() as Promise<IteratorResult<Item>>;
          },
          // Leaving one side's loop lets the other read on; when both have left, the request ends.
          return: async () => {
            stopped[index] = true;
            queues[index].length = 0;
            if (stopped[0] && stopped[1]) await source?.return?.();
            return { done: true, value: undefined };
          },
        }),
        this.controller,
      );
    return [side(0), side(1)];
  }

  /**
   * The items as a byte stream of newline-delimited JSON (one item per line), e.g. to send from
   * a server route; `Stream.fromReadableStream` reads it back. Cancelling it aborts the request.
   */
  toReadableStream(): ReadableStream<Uint8Array> {
    let iterator: AsyncIterator<Item> | undefined;
    const encoder = new TextEncoder();
    return new ReadableStream<Uint8Array>({
      start: () => {
        iterator = this[Symbol.asyncIterator]();
      },
      pull: async (out) => {
        try {
          const { done, value } = await (iterator as AsyncIterator<Item>).next();
          if (done) out.close();
          else out.enqueue(encoder.encode(`${JSON.stringify(value)}\n`));
        } catch (error) {
          out.error(error);
        }
      },
      cancel: async () => {
        await iterator?.return?.();
      },
    });
  }
}
