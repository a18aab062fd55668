import type { ChatTemplateKwargs, Example, TokenizeRequest, TrainOn, ConversationExample as WireConversationExample } from "../generated/schema.js";

/** Who wrote a message: the roles a conversation can hold. */
export type ChatRole = "system" | "user" | "assistant" | "tool";

/**
 * One message of a conversation. The wire schema leaves `role` and `content` to the server (so a
 * bad message is a 400 naming it, `batch[0].messages[2].role`); the SDK types them.
 */
export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** The reasoning of an assistant turn, for templates that render it (Qwen3's `<think>` block). */
  reasoning_content?: string | undefined;
}

/**
 * A conversation as a training example: rendered with the model's chat template, with the loss on
 * what the model generates in its assistant turns (`train_on`, @default "all_assistant").
 * `forward` returns the tokens and weights it used.
 */
export interface ConversationExample {
  messages: ChatMessage[];
  train_on?: TrainOn | undefined;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3. */
  chat_template_kwargs?: ChatTemplateKwargs | undefined;
}

/** One training example: `{prompt, completion}`, `{text}`, `{tokens, weights?}` or `{messages, train_on?}`. */
export type TrainingExample = Exclude<Example, WireConversationExample> | ConversationExample;

/** A batch of training examples, conversations typed (see `ConversationExample`). */
export type TrainingBatch = TrainingExample[];

/** What `tokenize` renders and tokenizes instead of text: a conversation with the model's chat template. */
export interface TokenizeMessages extends Omit<TokenizeRequest, "text" | "messages" | "add_bos"> {
  messages: ChatMessage[];
}

/** Whether `prompts` are conversations (lists of messages) rather than texts. */
export function isConversations(prompts: readonly (string | readonly ChatMessage[])[]): prompts is ChatMessage[][] {
  return prompts.length > 0 && Array.isArray(prompts[0]);
}
