import { SignalError } from "../errors.js";

/**
 * A random RFC 4122 version 4 UUID from the Web Crypto API, the same in Node, browsers, Bun,
 * Deno and edge runtimes. Browsers offer `crypto.randomUUID` only in secure contexts (https or
 * loopback), so a page served over plain http from a LAN address falls back to
 * `crypto.getRandomValues`, which every context has.
 * @throws SignalError when the runtime has no Web Crypto at all.
 */
export function randomUUID(): string {
  const webCrypto = globalThis.crypto;
  if (typeof webCrypto?.randomUUID === "function") return webCrypto.randomUUID();
  if (typeof webCrypto?.getRandomValues !== "function") {
    throw new SignalError("This runtime has no Web Crypto (globalThis.crypto): pass an explicit idempotencyKey.");
  }
  const bytes = webCrypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
