/**
 * The request id of a result. Every object or array an SDK method returns carries the
 * `x-request-id` of the response it came from as a non-enumerable `_request_id`: it is there to
 * log or quote (`result._request_id`) but never shows up in `JSON.stringify`, spreads or
 * equality checks. Errors carry it as `requestId`.
 */
export type WithRequestId<T> = T & { readonly _request_id?: string | undefined };

/** Attaches `_request_id` to an object or array without making it enumerable. */
export function attachRequestId<T>(value: T, requestId: string | undefined): WithRequestId<T> {
  if (typeof value === "object" && value !== null && Object.isExtensible(value)) {
    Object.defineProperty(value, "_request_id", { value: requestId, enumerable: false, configurable: true });
  }
  return value as WithRequestId<T>;
}

/** The `x-request-id` a result came with, or `undefined`. */
export function requestIdOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const id = (value as { _request_id?: unknown })._request_id;
  return typeof id === "string" ? id : undefined;
}
