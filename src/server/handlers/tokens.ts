import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import { type Handler, type RequestContext, json } from "../context.js";
import type { TokenCodec } from "../engine/codec.js";
import { renderConversation } from "./conversations.js";

type Schemas = components["schemas"];

/**
 * The base model named by the path and its tokenizer (the byte codec, or a checkpoint's own).
 * @throws ApiError 404 `model_not_found` listing the models.
 */
function modelOf(ctx: RequestContext<"tokenize" | "detokenize">): { model: string; codec: TokenCodec } {
  const id = ctx.path.model_id;
  if (!ctx.services.models.some((m) => m.id === id)) {
    throw new ApiError("model_not_found", `No model ${JSON.stringify(id)}; available: ${ctx.services.models.map((m) => m.id).join(", ")}.`, "model_id");
  }
  return { model: id, codec: ctx.services.engine.codec(id) };
}

/**
 * tokenize: the token ids of `text` by the model's own tokenizer, no special tokens (as
 * transformers' `encode(text, add_special_tokens=False)`); with `add_bos` the model's BOS first,
 * where it has one (`bos_token_id` is null, and nothing is prepended, where it has none). With
 * `messages` instead, the conversation rendered with the model's chat template (`text`) and its
 * ids, as training on it or sampling from it reads them.
 * @throws ApiError 400 `invalid_request` unless exactly one of `text` and `messages` is given; a
 *   bad conversation naming its field.
 */
export const tokenize: Handler<"tokenize"> = async (ctx) => {
  const { model, codec } = modelOf(ctx);
  const body = ctx.body;
  if ((body.text === undefined) === (body.messages === undefined)) {
    throw new ApiError("invalid_request", "Give exactly one of text and messages.", "text");
  }
  const ids = { bos_token_id: codec.bos, eos_token_id: codec.eos, eos_token_ids: [...codec.stopIds] };
  if (body.messages !== undefined) {
    const chat = renderConversation(codec, model, body.messages, "messages", {
      addGenerationPrompt: body.add_generation_prompt ?? false,
      kwargs: body.chat_template_kwargs,
    });
    return json(200, { object: "tokens", model, tokens: chat.tokens, ...ids, text: chat.text } satisfies Schemas["TokenizeResult"]);
  }
  const tokens = codec.encode(body.text!);
  const response: Schemas["TokenizeResult"] = {
    object: "tokens",
    model,
    tokens: body.add_bos && codec.bos !== null ? [codec.bos, ...tokens] : tokens,
    ...ids,
  };
  return json(200, response);
};

/**
 * detokenize: the text of token ids, specials skipped.
 * @throws ApiError 400 `invalid_token` naming `tokens[i]` for an id outside the vocabulary.
 */
export const detokenize: Handler<"detokenize"> = async (ctx) => {
  const { model, codec } = modelOf(ctx);
  const tokens = ctx.body.tokens;
  const bad = tokens.findIndex((t) => t >= codec.vocabSize);
  if (bad >= 0) throw new ApiError("invalid_token", `tokens[${bad}] is ${tokens[bad]}; token ids are integers in [0, ${codec.vocabSize})`, `tokens[${bad}]`);
  const response: Schemas["DetokenizeResult"] = { object: "text", model, text: codec.decode(tokens) };
  return json(200, response);
};
