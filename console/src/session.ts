import { SignalClient } from "../../src/index.js";

/** Where the key is kept: this tab's sessionStorage only (never localStorage, a cookie or the URL). */
const STORAGE_KEY = "frontier-signal-console.api-key";

/** The key this tab signed in with, if any. */
export function storedKey(): string | undefined {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeKey(key: string | undefined): void {
  try {
    if (key === undefined) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Storage refused (a private window's quota): the key lives in memory for this page only.
  }
}

/** A client of the server that served this page (the console has no other origin to talk to). */
export function clientFor(apiKey: string): SignalClient {
  return new SignalClient({ apiKey, baseUrl: location.origin, maxRetries: 1, logLevel: "off" });
}
