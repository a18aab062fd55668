/**
 * Byte-level tokenizer: token ids 0–255 are the UTF-8 bytes, then the specials.
 * Every string round-trips exactly; no merges, no unknown tokens.
 */

/** Beginning of sequence: prepended to every prompt, text and embedding input. */
export const BOS = 256;
/** End of sequence: the target after a completion; sampling stops on it. */
export const EOS = 257;
/** Padding: fills short rows of a batch; never a target. */
export const PAD = 258;
/** 256 bytes + BOS, EOS, PAD. */
export const VOCAB_SIZE = 259;

const encoder = new TextEncoder();

/** UTF-8 bytes of `text` as token ids (no BOS/EOS). */
export function encodeText(text: string): number[] {
  return Array.from(encoder.encode(text));
}

/** Decodes byte tokens to text, skipping specials; invalid UTF-8 becomes U+FFFD. */
export function decodeTokens(tokens: readonly number[]): string {
  return new TextDecoder().decode(Uint8Array.from(tokens.filter((t) => t < 256)));
}
