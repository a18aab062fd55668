import { ChatError, type ChatFormat, type ChatMessage, type TrainOn } from "./chat-format.js";
import { type RenderOptions, renderChat } from "./render-chat.js";

/** A conversation as a training example reads it. */
export interface EncodedConversation {
  /** The whole conversation rendered, no generation prompt. */
  text: string;
  tokens: number[];
  /** `weights[k]` weighs predicting `tokens[k]`: 1 on what the model generates in the assistant turns trained on, else 0. */
  weights: number[];
}

/** A character span `[start, end)` of rendered text. */
interface Span {
  start: number;
  end: number;
}

const endOfTurnCache = new WeakMap<ChatFormat, readonly string[]>();

function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * The special tokens that end an assistant turn: the one the template writes right after an
 * assistant message's content (found by rendering a probe conversation), and `eos_token`.
 */
function endOfTurnTexts(format: ChatFormat): readonly string[] {
  let cached = endOfTurnCache.get(format);
  if (cached) return cached;
  const found = new Set<string>();
  try {
    const question: ChatMessage = { role: "user", content: "Q" };
    const prompt = renderChat(format, [question], { addGenerationPrompt: true });
    const full = renderChat(format, [question, { role: "assistant", content: "A" }]);
    const at = full.indexOf("A", commonPrefix(prompt, full));
    const after = at < 0 ? "" : full.slice(at + 1);
    const marker = format.specialTexts.filter((s) => s !== "" && after.startsWith(s)).sort((x, y) => y.length - x.length)[0];
    if (marker !== undefined) found.add(marker);
  } catch {
    // A template that needs more than a user and an assistant message: eos_token alone ends a turn.
  }
  const eos = format.specialTokens.eos_token;
  if (typeof eos === "string" && format.specialTexts.includes(eos)) found.add(eos);
  cached = [...found];
  endOfTurnCache.set(format, cached);
  return cached;
}

/** Token ids of `endOfTurnTexts`: where sampling from a conversation stops. */
export function endOfTurnIds(format: ChatFormat): number[] {
  return endOfTurnTexts(format)
    .map((text) => format.encode(text))
    .filter((ids) => ids.length === 1)
    .map((ids) => ids[0]!);
}

/**
 * The character span of each trained assistant message's generated part in `text` (the
 * conversation rendered without a generation prompt): from where the conversation before the
 * message, rendered with a generation prompt, stops agreeing with `text` (the end of the
 * assistant header the model is prompted with), through the first end-of-turn token after it.
 * So the span holds what the model must generate at serving time, including what a template
 * adds to the turn itself (Qwen3's empty `<think>` block on the last turn).
 * @throws ChatError `chat_template_error` when the template cannot render a prefix of the conversation.
 */
function assistantSpans(format: ChatFormat, messages: readonly ChatMessage[], text: string, trainOn: TrainOn, options: RenderOptions = {}): Span[] {
  const indices = messages.flatMap((m, i) => (m.role === "assistant" ? [i] : []));
  const chosen = trainOn === "last_assistant" ? indices.slice(-1) : indices;
  const markers = endOfTurnTexts(format);
  return chosen.map((i) => {
    let prompt: string;
    try {
      prompt = renderChat(format, messages.slice(0, i), { ...options, addGenerationPrompt: true });
    } catch (error) {
      if (!(error instanceof ChatError)) throw error;
      throw new ChatError(error.code, `${error.message} (rendering the messages before messages[${i}] with a generation prompt)`, `messages[${i}]`);
    }
    const start = commonPrefix(prompt, text);
    let end = text.length;
    for (const marker of markers) {
      const at = text.indexOf(marker, start);
      if (at >= 0) end = Math.min(end, at + marker.length);
    }
    return { start, end };
  });
}

/**
 * How many of `tokens` (the ids of `text`) lie wholly before character `at`: the common prefix of
 * `tokens` and the ids of `text.slice(0, at)`. A token that straddles `at` is after it.
 */
function tokenIndex(format: ChatFormat, text: string, tokens: readonly number[], at: number): number {
  if (at <= 0) return 0;
  if (at >= text.length) return tokens.length;
  const head = format.encode(text.slice(0, at));
  let k = 0;
  while (k < head.length && k < tokens.length && head[k] === tokens[k]) k++;
  return k;
}

/**
 * A conversation as a training example: rendered without a generation prompt, tokenized, and
 * weighted 1 on the tokens of each trained assistant turn's generated part (`assistantSpans`
 * mapped to token offsets), 0 elsewhere.
 * @throws ChatError when the template raises, or `invalid_conversation` (param `messages`) when
 *   there is no assistant message to train on.
 */
export function encodeConversation(format: ChatFormat, messages: readonly ChatMessage[], trainOn: TrainOn, options: RenderOptions = {}): EncodedConversation {
  if (!messages.some((m) => m.role === "assistant")) throw new ChatError("invalid_conversation", "messages has no assistant message to train on", "messages");
  const text = renderChat(format, messages, { ...options, addGenerationPrompt: false });
  const tokens = format.encode(text);
  const weights = tokens.map(() => 0);
  for (const span of assistantSpans(format, messages, text, trainOn, options)) {
    const from = Math.max(1, tokenIndex(format, text, tokens, span.start));
    const to = tokenIndex(format, text, tokens, span.end);
    for (let k = from; k < to; k++) weights[k] = 1;
  }
  return { text, tokens, weights };
}
