import { BYTE_CHAT } from "./chat/byte-chat.js";
import type { ChatFormat } from "./chat/chat-format.js";
import { BOS, EOS, PAD, VOCAB_SIZE, decodeTokens, encodeText } from "./tokenizer.js";

/**
 * How a model turns text into token ids and back, and which ids are special. The built-in
 * models share the byte codec; a Hugging Face checkpoint brings its own (`hf/hf-tokenizer.ts`).
 * Plain data and functions, so the server's main thread can tokenize without the engine.
 */
export interface TokenCodec {
  /** Ids the model accepts: `[0, vocabSize)` (the rows of its LM head, padded rows included). */
  readonly vocabSize: number;
  /** The beginning-of-sequence id, or null when the model has none (Qwen). */
  readonly bos: number | null;
  /** Whether text (examples, prompts, embedding inputs) starts with `bos`. */
  readonly addsBos: boolean;
  /** Appended after a completion or a text example, so the model learns to stop. */
  readonly eos: number;
  /** Sampling ends on any of these (and never returns it). */
  readonly stopIds: readonly number[];
  /** Fills the short rows of a batch (never a target, never attended to by a real token). */
  readonly pad: number;
  /** Ids sampling never picks (the byte models' BOS and PAD); empty for checkpoints. */
  readonly neverSampled: readonly number[];
  /** Token ids of `text`, no special tokens added. */
  encode(text: string): number[];
  /** Text of `tokens`, special tokens skipped. */
  decode(tokens: readonly number[]): string;
  /** How conversations are rendered and tokenized; null for a checkpoint without a chat template. */
  readonly chat: ChatFormat | null;
}

/** The built-in byte-level models' codec: ids 0–255 are UTF-8 bytes, then BOS, EOS, PAD. */
export const BYTE_CODEC: TokenCodec = {
  vocabSize: VOCAB_SIZE,
  bos: BOS,
  addsBos: true,
  eos: EOS,
  stopIds: [EOS],
  pad: PAD,
  neverSampled: [BOS, PAD],
  encode: encodeText,
  decode: decodeTokens,
  chat: BYTE_CHAT,
};

/** `text` as a model reads it: BOS first when the model adds one. */
export function encodeWithBos(codec: TokenCodec, text: string): number[] {
  const ids = codec.encode(text);
  return codec.addsBos && codec.bos !== null ? [codec.bos, ...ids] : ids;
}
