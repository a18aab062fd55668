import type { ServerResponse } from "node:http";
import { type ApiError, errorBody } from "./api-error.js";

/**
 * A `text/event-stream` answer whose headers go out with the first event, so an error found
 * before anything was generated (say, a prompt too long) can still be a plain JSON error with
 * its proper status. Each event is written (and so flushed) as soon as it is sent.
 */
export class EventStream {
  #opened = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string,
    /** Answers with an error before the stream opened (the pipeline's `RequestContext.sendError`). */
    private readonly sendError: (error: ApiError) => void,
  ) {}

  /**
   * Sends one `data:` event: JSON for an object, verbatim for a string (`[DONE]`).
   * @returns false when the socket's buffer is full: wait for `drain` before sending more.
   */
  data(payload: unknown): boolean {
    this.#open();
    if (this.res.writableEnded || this.res.destroyed) return true;
    return this.res.write(`data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`);
  }

  /** Reports a failure: a JSON error response before the stream opened, `event: error` after. */
  fail(error: ApiError): void {
    if (!this.#opened) {
      this.sendError(error);
      return;
    }
    if (this.res.writableEnded || this.res.destroyed) return;
    this.res.write(`event: error\ndata: ${JSON.stringify(errorBody(error, this.requestId))}\n\n`);
    this.res.end();
  }

  /** Ends the stream with `data: [DONE]`. */
  done(): void {
    this.data("[DONE]");
    this.res.end();
  }

  #open(): void {
    if (this.#opened) return;
    this.#opened = true;
    this.res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    });
    this.res.flushHeaders();
  }
}
