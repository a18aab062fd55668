/** Bytes per `btoa` call: a multiple of 3, so the pieces concatenate without padding between them. */
const CHUNK = 3 * 8192;

/** Standard base64 (RFC 4648, padded) of `bytes`, with web-standard globals only (no Buffer). */
export function toBase64(bytes: Uint8Array): string {
  let out = "";
  for (let start = 0; start < bytes.length; start += CHUNK) {
    out += btoa(String.fromCharCode(...bytes.subarray(start, start + CHUNK)));
  }
  return out;
}
