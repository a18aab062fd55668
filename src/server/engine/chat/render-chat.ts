import { Template } from "@huggingface/jinja";
import { CHAT_ROLES, ChatError, type ChatFormat, type ChatMessage } from "./chat-format.js";
import { PYTHON_STRING_GLOBALS, pythonStrings } from "./python-strings.js";

/** Variables transformers passes by name, which `chat_template_kwargs` cannot replace. */
const RESERVED = new Set(["messages", "tools", "documents", "add_generation_prompt", ...Object.keys(PYTHON_STRING_GLOBALS)]);

const compiled = new WeakMap<ChatFormat, Template>();

/** Options of one render. */
export interface RenderOptions {
  /** End with the header of an assistant turn, for generation. @default false */
  addGenerationPrompt?: boolean;
  /** Extra template variables (Qwen3's `enable_thinking`), over the special tokens. */
  kwargs?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Renders `messages` with the format's template as transformers' `apply_chat_template(...,
 * tokenize=False)` does: `@huggingface/jinja` (trim_blocks and lstrip_blocks, `raise_exception`,
 * `strftime_now`, a `tojson` that does not escape HTML; Python's `strip`s, see `python-strings.ts`),
 * with `messages`, `tools` and `documents`
 * as None, `add_generation_prompt`, the special tokens and the caller's variables over them.
 * @throws ChatError `chat_template_error` quoting the template's own message when it raises or
 *   cannot be parsed; `invalid_conversation` (param `chat_template_kwargs`) for a reserved variable.
 */
export function renderChat(format: ChatFormat, messages: readonly ChatMessage[], options: RenderOptions = {}): string {
  const kwargs = options.kwargs ?? {};
  const reserved = Object.keys(kwargs).find((k) => RESERVED.has(k));
  if (reserved !== undefined)
    throw new ChatError("invalid_conversation", `chat_template_kwargs.${reserved} cannot be set: the server passes it`, `chat_template_kwargs.${reserved}`);
  let template = compiled.get(format);
  try {
    if (!template) {
      template = new Template(format.template);
      pythonStrings(template.parsed);
      compiled.set(format, template);
    }
    return template.render({
      ...PYTHON_STRING_GLOBALS,
      ...format.specialTokens,
      ...kwargs,
      // Copies: the renderer must not see (or keep) the caller's objects.
      messages: messages.map((m) => ({ ...m })),
      tools: null,
      documents: null,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ChatError("chat_template_error", `The model's chat template failed: ${message}`);
  }
}

/**
 * Checks a conversation from a request: a non-empty list of `{role, content}` with a known role
 * and string content (and a string `reasoning_content` where given).
 * @throws ChatError `invalid_conversation` whose param is relative to `param`
 *   (`batch[0].messages[2].role`).
 */
export function checkMessages(value: unknown, param: string): ChatMessage[] {
  if (!Array.isArray(value)) throw new ChatError("invalid_conversation", `${param} must be a list of messages`, param);
  if (value.length === 0) throw new ChatError("invalid_conversation", `${param} is empty; a conversation has at least one message`, param);
  value.forEach((m: unknown, i) => {
    const at = `${param}[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw new ChatError("invalid_conversation", `${at} must be an object {role, content}`, at);
    const { role, content, reasoning_content } = m as Record<string, unknown>;
    if (typeof role !== "string" || !(CHAT_ROLES as readonly string[]).includes(role))
      throw new ChatError(
        "invalid_conversation",
        `${at}.role is ${JSON.stringify(role) ?? "missing"}; a role is one of ${CHAT_ROLES.join(", ")}`,
        `${at}.role`,
      );
    if (typeof content !== "string")
      throw new ChatError(
        "invalid_conversation",
        `${at}.content must be a string, got ${content === undefined ? "nothing" : Array.isArray(content) ? "a list" : typeof content}`,
        `${at}.content`,
      );
    if (reasoning_content !== undefined && typeof reasoning_content !== "string")
      throw new ChatError("invalid_conversation", `${at}.reasoning_content must be a string`, `${at}.reasoning_content`);
  });
  return value as ChatMessage[];
}
