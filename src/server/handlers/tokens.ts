import type { components } from "../../../generated/schema.js";
import { ApiError } from "../wire/api-error.js";
import { type Handler, type RequestContext, json } from "../context.js";
import { BOS, EOS, VOCAB_SIZE, decodeTokens, encodeText } from "../engine/tokenizer.js";

type Schemas = components["schemas"];

/**
 * The base model named by the path. Every built-in model shares the byte-level tokenizer, so
 * this only checks that the model exists.
 * @throws ApiError 404 `model_not_found` listing the models.
 */
function modelOf(ctx: RequestContext<"tokenize" | "detokenize">): string {
  const id = ctx.path.model_id;
  if (!ctx.services.models.some((m) => m.id === id)) {
    throw new ApiError(
      404,
      "not_found_error",
      "model_not_found",
      `No model ${JSON.stringify(id)}; available: ${ctx.services.models.map((m) => m.id).join(", ")}.`,
      "model_id",
    );
  }
  return id;
}

/** tokenize: the token ids of `text` (UTF-8 bytes), BOS first with `add_bos`. */
export const tokenize: Handler<"tokenize"> = async (ctx) => {
  const model = modelOf(ctx);
  const body = ctx.body;
  const tokens = encodeText(body.text);
  const response: Schemas["TokenizeResult"] = {
    object: "tokens",
    model,
    tokens: body.add_bos ? [BOS, ...tokens] : tokens,
    bos_token_id: BOS,
    eos_token_id: EOS,
  };
  return json(200, response);
};

/**
 * detokenize: the text of token ids, specials skipped.
 * @throws ApiError 400 `invalid_token` naming `tokens[i]` for an id outside the vocabulary.
 */
export const detokenize: Handler<"detokenize"> = async (ctx) => {
  const model = modelOf(ctx);
  const tokens = ctx.body.tokens;
  const bad = tokens.findIndex((t) => t >= VOCAB_SIZE);
  if (bad >= 0)
    throw new ApiError(
      400,
      "invalid_request_error",
      "invalid_token",
      `tokens[${bad}] is ${tokens[bad]}; token ids are integers in [0, ${VOCAB_SIZE})`,
      `tokens[${bad}]`,
    );
  const response: Schemas["DetokenizeResult"] = { object: "text", model, text: decodeTokens(tokens) };
  return json(200, response);
};
