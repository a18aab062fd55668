import { createHash, timingSafeEqual } from "node:crypto";
import { ApiError } from "../wire/api-error.js";

/**
 * Builds the bearer-token check for a fixed set of keys. The incoming key is hashed and compared
 * with every configured hash in constant time (`timingSafeEqual` on equal-length digests, and no
 * early exit), so neither the match nor its position leaks through timing.
 *
 * @returns a function from the `Authorization` header to the key's hash.
 * @throws ApiError 401 `invalid_api_key` (from the returned function) for a missing, malformed or unknown key.
 */
export function createAuthenticator(keys: readonly string[]): (authorization: string | undefined) => string {
  const digests = keys.map((key) => createHash("sha256").update(key, "utf8").digest());
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    const presented = createHash("sha256")
      .update(match?.[1] ?? "", "utf8")
      .digest();
    let found = -1;
    for (let i = 0; i < digests.length; i++) {
      if (timingSafeEqual(digests[i]!, presented) && match) found = i;
    }
    if (found < 0) {
      throw new ApiError("invalid_api_key", "Missing or invalid API key: send 'Authorization: Bearer <key>'.");
    }
    return digests[found]!.toString("hex");
  };
}
