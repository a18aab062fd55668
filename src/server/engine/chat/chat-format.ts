/**
 * A model's chat format: its Jinja chat template, the variables a tokenizer passes it, and how
 * the rendered text becomes token ids. A Hugging Face checkpoint brings its own
 * (`tokenizer_config.json`'s `chat_template`, or `chat_template.jinja`); the built-in byte models
 * share `BYTE_CHAT` (`byte-chat.ts`).
 */
export interface ChatFormat {
  /** The Jinja source of the template. */
  readonly template: string;
  /**
   * Variables every render gets, before the caller's `chat_template_kwargs`: transformers' special
   * tokens map (`bos_token`, `eos_token`, `pad_token`, ... as text; `additional_special_tokens`
   * as a list), only those the tokenizer defines.
   */
  readonly specialTokens: Readonly<Record<string, string | readonly string[]>>;
  /** The text of every special token (the tokenizer reads each as one token); end-of-turn markers are among them. */
  readonly specialTexts: readonly string[];
  /** Token ids of rendered text: special tokens' text read as those tokens, nothing added (transformers' `add_special_tokens=False`). */
  encode(text: string): number[];
}

/** The roles a message can have. */
export const CHAT_ROLES = ["system", "user", "assistant", "tool"] as const;

/** One message of a conversation, as the template reads it. */
export interface ChatMessage {
  role: (typeof CHAT_ROLES)[number];
  content: string;
  /** The reasoning of an assistant turn, for templates that render it (Qwen3's `<think>` block). */
  reasoning_content?: string;
}

/** Which assistant messages a training example's loss covers. */
export type TrainOn = "all_assistant" | "last_assistant";

/**
 * A conversation that cannot be rendered: a malformed message, or a template that raised.
 * `param` names the field at fault (`messages[2].role`) relative to the conversation.
 */
export class ChatError extends Error {
  override readonly name = "ChatError";
  constructor(
    readonly code: "invalid_conversation" | "chat_template_error",
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }
}
