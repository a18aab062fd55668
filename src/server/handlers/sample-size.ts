import { ApiError } from "../wire/api-error.js";

/**
 * The tokens a sampling call may generate, `prompts × n × max_tokens`, against the server's
 * budget: checked before any weights are loaded or caches allocated.
 * @throws ApiError 400 `sample_too_large` (param `max_tokens`).
 */
export function checkSampleSize(prompts: number, n: number, maxTokens: number, limit: number): void {
  const total = prompts * n * maxTokens;
  if (total <= limit) return;
  throw new ApiError(
    "sample_too_large",
    `prompts × n × max_tokens is ${prompts} × ${n} × ${maxTokens} = ${total} tokens; the server generates at most ${limit} per call. Ask for fewer prompts, samples or tokens, or split the call.`,
    "max_tokens",
  );
}
