import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import type { RequestContext } from "../context.js";
import type { TokenCodec } from "../engine/codec.js";
import { ChatError, type ChatFormat, type ChatMessage } from "../engine/chat/chat-format.js";
import { encodeConversation, endOfTurnIds } from "../engine/chat/conversation-tokens.js";
import { checkMessages, renderChat } from "../engine/chat/render-chat.js";
import type { Example } from "../engine/types.js";

type Schemas = components["schemas"];
type WireExample = Schemas["Example"];
type Kwargs = Schemas["ChatTemplateKwargs"] | undefined;

/**
 * A ChatError as the 400 the API answers with: its `param` under `prefix` (`batch[0]`), or
 * `whole` (the conversation) when it names no field; anything else unchanged.
 */
function chatApiError(error: unknown, prefix: string | undefined, whole: string): unknown {
  if (!(error instanceof ChatError)) return error;
  if (error.param === undefined) return new ApiError(error.code, error.message, whole);
  const param = prefix === undefined ? error.param : `${prefix}.${error.param}`;
  return new ApiError(error.code, error.message.replace(error.param, param), param);
}

/**
 * The chat format of model `modelId`.
 * @throws ApiError 400 `no_chat_template` naming `param` when the checkpoint has none.
 */
function chatFormatOf(codec: TokenCodec, modelId: string, param: string): ChatFormat {
  if (codec.chat) return codec.chat;
  throw new ApiError(
    "no_chat_template",
    `Model ${JSON.stringify(modelId)} has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja), so it cannot take messages.`,
    param,
  );
}

function isConversation(e: WireExample): e is Schemas["ConversationExample"] {
  return typeof e === "object" && e !== null && "messages" in e;
}

/**
 * The batch as the engine takes it: each `ConversationExample` rendered with the run's model's chat
 * template and turned into `{tokens, weights}` (the assistant mask); other examples as they are.
 * @throws ApiError 400 `invalid_conversation` / `chat_template_error` / `no_chat_template` naming
 *   the field (`batch[0].messages[2].role`).
 */
export function engineBatch(ctx: RequestContext, modelId: string, batch: WireExample[]): Example[] {
  const codec = ctx.services.engine.codec(modelId);
  return batch.map((example, i) => {
    if (!isConversation(example)) return example as Example;
    const prefix = `batch[${i}]`;
    try {
      const format = chatFormatOf(codec, modelId, `${prefix}.messages`);
      const messages = checkMessages(example.messages, "messages");
      const { tokens, weights } = encodeConversation(format, messages, example.train_on ?? "all_assistant", { kwargs: example.chat_template_kwargs });
      return { tokens, weights };
    } catch (error) {
      throw chatApiError(error, prefix, `${prefix}.messages`);
    }
  });
}

/** A conversation rendered for generation: its text and token ids. */
export interface ChatPrompt {
  text: string;
  tokens: number[];
}

/**
 * Renders `messages` (checked) with the model's chat template.
 * @throws ApiError 400 naming `param` or the field under it.
 */
export function renderConversation(
  codec: TokenCodec,
  modelId: string,
  messages: unknown,
  param: string,
  options: { addGenerationPrompt: boolean; kwargs: Kwargs },
): ChatPrompt {
  try {
    const format = chatFormatOf(codec, modelId, param);
    const checked: ChatMessage[] = checkMessages(messages, param);
    const text = renderChat(format, checked, options);
    return { text, tokens: format.encode(text) };
  } catch (error) {
    throw chatApiError(error, undefined, param);
  }
}

/** Where sampling from a conversation stops besides the model's EOS: the template's end-of-turn ids. */
export function chatStopIds(codec: TokenCodec): number[] {
  return codec.chat ? endOfTurnIds(codec.chat) : [];
}
