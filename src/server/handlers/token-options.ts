import type { components } from "../../../generated/schema.js";
import { BYTE_CODEC, type TokenCodec } from "../engine/codec.js";
import type { TopLogprob } from "../engine/types.js";
import { ApiError } from "../wire/api-error.js";

type Schemas = components["schemas"];

/**
 * `stop_token_ids` of a request, checked against the model's vocabulary, joined to the ids the
 * call stops on anyway (a chat template's end of turn).
 * @throws ApiError 400 `invalid_request` naming `stop_token_ids[i]` for an id outside the vocabulary.
 */
export function stopTokenIds(given: readonly number[] | undefined, codec: TokenCodec, always: readonly number[] = []): number[] {
  const bad = (given ?? []).findIndex((id) => id >= codec.vocabSize);
  if (bad >= 0) {
    throw new ApiError(
      "invalid_request",
      `stop_token_ids[${bad}] is ${given![bad]}; the model's token ids are integers in [0, ${codec.vocabSize}).`,
      `stop_token_ids[${bad}]`,
    );
  }
  return [...new Set([...always, ...(given ?? [])])];
}

/**
 * @throws ApiError 400 `invalid_request` naming `top_logprobs` when it asks for alternatives
 *   that nothing would carry (`needs` names what must be on).
 */
export function checkTopLogprobs(k: number | null | undefined, carried: boolean, needs: string): void {
  if (!k || carried) return;
  throw new ApiError("invalid_request", `top_logprobs is ${k} but ${needs}: nothing would carry them.`, "top_logprobs");
}

/**
 * The text of one token as the OpenAI APIs spell it: a built-in model's ASCII bytes as
 * themselves, other bytes as `bytes:\xNN`, end of sequence as `<|endoftext|>`; a checkpoint's
 * token as its tokenizer decodes it alone.
 */
function tokenText(codec: TokenCodec, token: number): string {
  if (codec !== BYTE_CODEC) return codec.decode([token]);
  if (token < 0x80) return String.fromCharCode(token);
  if (token < 0x100) return `bytes:\\x${token.toString(16).padStart(2, "0")}`;
  return "<|endoftext|>";
}

/** OpenAI's `top_logprobs` of one legacy-completions position: text → logprob, the sampled token included. */
function topMap(codec: TokenCodec, tops: readonly TopLogprob[], sampled: number, logprob: number): Record<string, number> {
  const map: Record<string, number> = {};
  // Most likely first; a later token with the same text does not overwrite the likelier one.
  const entries = tops.some((t) => t.token === sampled) ? tops : [...tops, { token: sampled, logprob }].sort((a, b) => b.logprob - a.logprob);
  for (const t of entries) {
    const text = tokenText(codec, t.token);
    if (!(text in map)) map[text] = t.logprob;
  }
  return map;
}

/**
 * The legacy completions API's `logprobs` of a whole choice: each token's text, logprob, top
 * alternatives (with the sampled one) and where its text starts in the choice's text (as the
 * sampler recorded it, so a streamed choice's chunks carry the same offsets).
 */
export function completionLogprobs(
  codec: TokenCodec,
  tokens: readonly number[],
  logprobs: readonly number[],
  tops: readonly TopLogprob[][] | undefined,
  textOffsets: readonly number[],
): NonNullable<Schemas["CompletionChoice"]["logprobs"]> {
  return {
    tokens: tokens.map((t) => tokenText(codec, t)),
    token_logprobs: [...logprobs],
    top_logprobs: tokens.map((t, i) => topMap(codec, tops?.[i] ?? [], t, logprobs[i]!)),
    text_offset: [...textOffsets],
  };
}

/** Chat completions' `logprobs.content` entry of one generated token: its text, logprob and the position's top list. */
export function chatTokenLogprob(codec: TokenCodec, token: number, logprob: number, tops: readonly TopLogprob[] | undefined) {
  return { token: codec.decode([token]), logprob, bytes: null, top_logprobs: chatTopLogprobs(codec, tops) };
}

/** Chat completions' `top_logprobs` of one position. */
function chatTopLogprobs(codec: TokenCodec, tops: readonly TopLogprob[] | undefined): { token: string; logprob: number; bytes: null }[] {
  return (tops ?? []).map((t) => ({ token: codec.decode([t.token]), logprob: t.logprob, bytes: null }));
}
