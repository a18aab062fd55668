import fs from "node:fs";
import path from "node:path";
import type { ChatFormat } from "./chat-format.js";

type Json = Record<string, unknown>;

/** transformers' special tokens map: the attributes a tokenizer passes every chat template. */
const SPECIAL_TOKEN_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] as const;

function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as Json).content === "string") return (v as Json).content as string;
  return undefined;
}

/**
 * The checkpoint's chat template as transformers loads it: `chat_template.jinja` in the folder,
 * else `tokenizer_config.json`'s `chat_template`, a string or a list of `{name, template}` of
 * which the one named `default` is used. Null when it has none.
 * @throws Error naming the file when the template is there but unusable.
 */
function templateSource(dir: string, tokConfig: Json): string | null {
  const jinjaPath = path.join(dir, "chat_template.jinja");
  if (fs.existsSync(jinjaPath)) return fs.readFileSync(jinjaPath, "utf8");
  const t = tokConfig.chat_template;
  if (t === undefined || t === null) return null;
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    const named = t.find((e) => e && typeof e === "object" && (e as Json).name === "default") as Json | undefined;
    if (named && typeof named.template === "string") return named.template;
    throw new Error(`${path.join(dir, "tokenizer_config.json")}: chat_template lists several templates and none is named "default"`);
  }
  throw new Error(`${path.join(dir, "tokenizer_config.json")}: chat_template is neither a string nor a list of {name, template}`);
}

/**
 * A checkpoint's chat format: its template, transformers' special tokens map from
 * `tokenizer_config.json`, the texts of `tokenizer.json`'s special added tokens, and its
 * tokenizer's `encode` (which reads those texts as their tokens). Null when it has no template.
 */
export function hfChatFormat(dir: string, tokConfig: Json, tokenizerJson: Json, encode: (text: string) => number[]): ChatFormat | null {
  const template = templateSource(dir, tokConfig);
  if (template === null) return null;
  const specialTokens: Record<string, string | string[]> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const text = tokenText(tokConfig[key]);
    if (text !== undefined) specialTokens[key] = text;
  }
  if (Array.isArray(tokConfig.additional_special_tokens)) {
    specialTokens.additional_special_tokens = tokConfig.additional_special_tokens.map(tokenText).filter((s): s is string => s !== undefined);
  }
  const added = Array.isArray(tokenizerJson.added_tokens) ? (tokenizerJson.added_tokens as Json[]) : [];
  const specialTexts = added.filter((t) => t.special === true && typeof t.content === "string").map((t) => t.content as string);
  return { template, specialTokens, specialTexts, encode };
}
