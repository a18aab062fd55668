import { STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";
import { ApiError, errorBody } from "../wire/api-error.js";
import { newRequestId } from "../store/ids.js";
import { ERROR_STATUS } from "./error-status.js";

/**
 * Answers a request Node's HTTP parser rejected before it reached the pipeline (bad request line,
 * CR or LF inside a header value, headers over the size limit, a timeout) in the error schema with
 * an `x-request-id`, as every other answer, then closes the connection. Node's own answer has
 * neither. Nothing is written when the peer is gone or a response is already under way on the
 * socket (that would corrupt it); the socket is closed either way.
 *
 * @returns the request id of the answer, or undefined when there was none.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): string | undefined {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return undefined;
  }
  const apiError = toApiError(error.code);
  const status = ERROR_STATUS[apiError.code];
  const requestId = newRequestId();
  const body = JSON.stringify(errorBody(apiError, requestId));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  );
  // A peer that never reads must not hold the socket open.
  setTimeout(() => socket.destroy(), 1_000).unref();
  return requestId;
}

function toApiError(code: string | undefined): ApiError {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return new ApiError("header_too_large", "The request line and headers exceed the server's size limit.");
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return new ApiError("payload_too_large", "The chunk extensions exceed the server's size limit.");
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new ApiError("request_timeout", "The request was not received in time.");
    default:
      return new ApiError("malformed_request", "The request is not well-formed HTTP/1.1 (request line, header names and values, framing).");
  }
}
