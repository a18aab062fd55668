import type { IncomingMessage } from "node:http";
import { ApiError } from "../wire/api-error.js";

/** Raised when a body is over the limit; the pipeline answers 413 and closes the connection. */
function payloadTooLarge(limit: number): ApiError {
  return new ApiError("payload_too_large", `Request body exceeds the limit of ${limit} bytes.`);
}

/**
 * Reads the whole request body, refusing to buffer more than `limit` bytes: a declared
 * `Content-Length` over the limit fails before a byte is read, and a chunked body fails as soon
 * as it crosses the limit (reading stops there).
 *
 * @throws ApiError 413 `payload_too_large`; rejects with the stream's error if the client aborts.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(payloadTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(payloadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    // A client gone before its body ended frees its admission place at once, not at the request timeout.
    const onClose = () => {
      if (!req.complete) onError(new ApiError("client_closed_request", "The client closed the connection before its request body ended."));
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/**
 * Parses a JSON body. An empty body is `undefined` (operations whose body is optional treat it
 * as `{}`).
 *
 * @throws ApiError 400 `invalid_json` naming the parser's complaint.
 */
export function parseJsonBody(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    const detail = cause instanceof SyntaxError ? `: ${cause.message}` : "";
    throw new ApiError("invalid_json", `The request body is not valid JSON${detail}.`);
  }
}
