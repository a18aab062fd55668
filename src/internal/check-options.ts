import { SignalError } from "../errors.js";

/** Largest delay a timer takes: Node, browsers and Deno fire a longer one almost at once. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Checks an option that must be an integer in `[min, max]`; `undefined` passes (the default
 * applies). `NaN` — what `Number()` of an unset environment variable gives — is refused like any
 * other non-integer.
 * @throws SignalError naming the option and the value it got.
 */
export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? "a non-negative integer" : `an integer >= ${min}`) : `an integer from ${min} to ${max}`;
    throw new SignalError(`${name} must be ${range}, got ${show(value)}.`);
  }
}

/** The options every client and every call share: `timeout` and `maxRetries`. */
export function checkPolicyOptions(options: { timeout?: unknown; maxRetries?: unknown; backoff?: unknown }, where = ""): void {
  checkInteger(`${where}timeout`, options.timeout, 1, MAX_TIMEOUT_MS);
  checkInteger(`${where}maxRetries`, options.maxRetries, 0);
  const backoff = options.backoff as { initialDelay?: unknown; maxDelay?: unknown; kind?: unknown } | undefined;
  if (backoff !== undefined) {
    checkInteger(`${where}backoff.initialDelay`, backoff.initialDelay, 0, MAX_TIMEOUT_MS);
    checkInteger(`${where}backoff.maxDelay`, backoff.maxDelay, 0, MAX_TIMEOUT_MS);
    if (backoff.kind !== undefined && backoff.kind !== "exponential" && backoff.kind !== "immediate") {
      throw new SignalError(`${where}backoff.kind must be "exponential" or "immediate", got ${show(backoff.kind)}.`);
    }
  }
}

/**
 * Checks the base URL: an absolute http(s) URL.
 * @throws SignalError naming `source` (`baseUrl` or `SIGNAL_BASE_URL`) and the value.
 */
export function checkBaseUrl(value: string, source: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SignalError(`${source} must be an absolute http(s) URL, got ${show(value)}.`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new SignalError(`${source} must be an absolute http(s) URL, got ${show(value)}.`);
  }
  return value.replace(/\/+$/, "");
}
