import type { Backoff } from "../core/policy.js";

/** Longest `Retry-After` honoured; past this the server is asking for something else than a retry. */
const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * `Retry-After` in ms: delta-seconds or an HTTP date (`retry-after-ms` first, as some servers
 * send it). `undefined` when absent, unparsable or unreasonable.
 */
function parseRetryAfter(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms))) return clamp(Number(ms));
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return clamp(seconds * 1000);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return clamp(date - now);
}

function clamp(ms: number): number | undefined {
  if (ms < 0) return 0;
  return ms <= MAX_RETRY_AFTER_MS ? ms : undefined;
}

/**
 * Delay before retry number `retry` (0 for the first retry). `Retry-After` beats the computed
 * delay; otherwise exponential backoff with jitter in [50 %, 100 %] of the step, or 0 for
 * `immediate`.
 */
export function retryDelay(backoff: Backoff, retry: number, headers?: Headers, random: () => number = Math.random): number {
  const fromServer = parseRetryAfter(headers);
  if (fromServer !== undefined) return fromServer;
  if (backoff.kind === "immediate") return 0;
  const step = Math.min(backoff.initialDelay * 2 ** retry, backoff.maxDelay);
  return step * (1 - 0.5 * random());
}
