/** Statuses worth another attempt: the request may succeed unchanged. */
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * The retry decision for a response, in one place. 409 is retried only for the transient
 * `conflict_retryable` code; every other 4xx is the caller's to fix. `x-should-retry`, when the
 * server sends it, wins.
 */
export function shouldRetryStatus(status: number, headers: Headers, errorCode: string | undefined): boolean {
  const hint = headers.get("x-should-retry");
  if (hint === "true") return true;
  if (hint === "false") return false;
  if (status === 409) return errorCode === "conflict_retryable";
  return RETRYABLE_STATUS.has(status);
}
