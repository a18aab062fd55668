import fs from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import type { TokenCodec } from "../codec.js";
import { hfChatFormat } from "../chat/hf-chat-format.js";
import { CheckpointError } from "./checkpoint-error.js";
import { readJson } from "./weight-files.js";

type Json = Record<string, unknown>;

/** A special token of `tokenizer_config.json`: a string or `{content}` (an AddedToken). */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as Json).content === "string") return (v as Json).content as string;
  return undefined;
}

function ids(v: unknown): number[] {
  if (typeof v === "number" && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === "number" && Number.isInteger(x));
  return [];
}

/** Whether `post_processor` (or a `Sequence` holding one) is a template that puts `bos` first. */
function templateAddsBos(post: unknown, bos: string): boolean {
  if (!post || typeof post !== "object") return false;
  const p = post as Json;
  if (p.type === "Sequence" && Array.isArray(p.processors)) return p.processors.some((q) => templateAddsBos(q, bos));
  if (p.type !== "TemplateProcessing" || !Array.isArray(p.single)) return false;
  const first = p.single[0] as Json | undefined;
  return (first?.SpecialToken as Json | undefined)?.id === bos;
}

/**
 * The checkpoint's own `tokenizer.json` through `@huggingface/tokenizers`, with the special ids
 * transformers would use: BOS is `tokenizer_config.json`'s `bos_token` (none for Qwen), added to
 * text when `add_bos_token` says so or the tokenizer's post-processor template starts with it
 * (what `encode(text)` does in transformers); EOS is `eos_token`; sampling stops on it and on
 * every `eos_token_id` of `generation_config.json` and `config.json`.
 * @throws CheckpointError when `tokenizer.json` is missing or unreadable, or has no EOS.
 */
export function loadHfTokenizer(dir: string, config: Json, vocabSize: number): TokenCodec & { tokenizerVocab: number } {
  const tokenizerPath = path.join(dir, "tokenizer.json");
  if (!fs.existsSync(tokenizerPath)) throw new CheckpointError(`${dir}: tokenizer.json is missing (the server needs the checkpoint's own tokenizer.json)`);
  const tokenizerJson = readJson(tokenizerPath) as Json;
  const configPath = path.join(dir, "tokenizer_config.json");
  const tokConfig = (fs.existsSync(configPath) ? readJson(configPath) : {}) as Json;
  const genPath = path.join(dir, "generation_config.json");
  const gen = (fs.existsSync(genPath) ? readJson(genPath) : {}) as Json;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(tokenizerJson, tokConfig);
  } catch (e) {
    throw new CheckpointError(`${tokenizerPath}: cannot be loaded (${e instanceof Error ? e.message : String(e)})`);
  }
  const idOf = (text: string | undefined): number | undefined => (text === undefined ? undefined : (tokenizer.token_to_id(text) ?? undefined));
  const bosText = tokenText(tokConfig.bos_token);
  const bos = idOf(bosText) ?? null;
  const addsBos =
    bos !== null && (tokConfig.add_bos_token === true || (tokConfig.add_bos_token !== false && templateAddsBos(tokenizerJson.post_processor, bosText!)));
  const eosFromTokenizer = idOf(tokenText(tokConfig.eos_token));
  const stopIds = [...new Set([...(eosFromTokenizer === undefined ? [] : [eosFromTokenizer]), ...ids(gen.eos_token_id), ...ids(config.eos_token_id)])];
  const eos = eosFromTokenizer ?? stopIds[0];
  if (eos === undefined)
    throw new CheckpointError(`${dir}: no end-of-sequence token (tokenizer_config.json "eos_token", generation_config.json or config.json "eos_token_id")`);
  const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids;
  let chat: TokenCodec["chat"];
  try {
    chat = hfChatFormat(dir, tokConfig, tokenizerJson, encode);
  } catch (e) {
    throw new CheckpointError(e instanceof Error ? e.message : String(e));
  }
  let tokenizerVocab = 0;
  for (const id of tokenizer.get_vocab(true).values()) tokenizerVocab = Math.max(tokenizerVocab, id + 1);
  return {
    vocabSize,
    bos,
    addsBos,
    eos,
    stopIds,
    pad: 0,
    neverSampled: [],
    tokenizerVocab,
    encode,
    // Ids past the tokenizer's vocabulary (padded LM-head rows) have no text.
    decode: (tokens) =>
      tokenizer.decode(
        tokens.filter((t) => t < tokenizerVocab),
        { skip_special_tokens: true },
      ),
    chat,
  };
}
