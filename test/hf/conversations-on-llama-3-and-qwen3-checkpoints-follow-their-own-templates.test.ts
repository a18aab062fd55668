import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../src/server/index.js";
import { type HfCheckpointSpec, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";
import { hasJinja2, renderWithJinja2 } from "../helpers/jinja-reference.js";
import { call } from "../server/helpers.js";

// Conversations on checkpoints with the real Llama 3 and Qwen3 tokenizers and chat templates,
// over real HTTP: tokenize renders what jinja2 renders (where python3-jinja2 is installed) and
// tokenizes it with the checkpoint's tokenizer; forward trains on the assistant turns only;
// sampling from messages is sampling from the rendered prompt's ids and stops at the template's
// end of turn (Llama 3's <|eot_id|>, which is not its EOS); the openai client talks to it; a
// template that raises is a 400 quoting it, and a checkpoint without a template refuses messages.

const KEY = "sk-chat-test-key";
let root: string;
let server: RunningServer;
const dirs: Record<string, string> = {};
const tokenizers: Record<string, Tokenizer> = {};

const base = { hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64 } as const;
const SPECS: Record<string, HfCheckpointSpec> = {
  "chat-llama3": {
    ...base,
    architecture: "LlamaForCausalLM",
    tokenizer: "llama3",
    dtype: "float32",
    tie_word_embeddings: true,
    max_position_embeddings: 512,
    seed: 31,
  },
  "chat-qwen3": {
    ...base,
    architecture: "Qwen3ForCausalLM",
    tokenizer: "qwen3",
    head_dim: 8,
    dtype: "float32",
    tie_word_embeddings: true,
    max_position_embeddings: 512,
    seed: 32,
  },
  "chat-raises": {
    ...base,
    architecture: "Qwen3ForCausalLM",
    tokenizer: "qwen3",
    head_dim: 8,
    dtype: "float32",
    tie_word_embeddings: true,
    max_position_embeddings: 512,
    seed: 33,
  },
  "chat-none": {
    ...base,
    architecture: "Qwen3ForCausalLM",
    tokenizer: "qwen3",
    head_dim: 8,
    dtype: "float32",
    tie_word_embeddings: true,
    max_position_embeddings: 512,
    seed: 34,
  },
};

const CONVERSATION = [
  { role: "system", content: "Réponds brièvement." },
  { role: "user", content: "Capital of France? 🇫🇷" },
  { role: "assistant", content: "Paris." },
  { role: "user", content: "  And of Japan?\n" },
  { role: "assistant", content: "東京 (Tokyo)." },
];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "signal-chat-hf-"));
  for (const [id, spec] of Object.entries(SPECS)) {
    dirs[id] = join(root, id);
    await writeHfCheckpoint(dirs[id]!, spec);
  }
  await writeFile(
    join(dirs["chat-raises"]!, "chat_template.jinja"),
    "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
  );
  const noneConfig = join(dirs["chat-none"]!, "tokenizer_config.json");
  const config = JSON.parse(await readFile(noneConfig, "utf8")) as Record<string, unknown>;
  delete config.chat_template;
  await writeFile(noneConfig, JSON.stringify(config));
  for (const id of ["chat-llama3", "chat-qwen3"]) {
    const dir = dirs[id]!;
    tokenizers[id] = new Tokenizer(
      JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")),
      JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")),
    );
  }
  server = await startServer({
    port: 0,
    dataDir: join(root, "data"),
    apiKeys: [KEY],
    workers: 1,
    log: false,
    models: Object.keys(SPECS).map((id) => ({ path: dirs[id]!, id })),
  });
}, 180_000);

afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

const post = (path: string, body: unknown) => call({ url: server.url, key: KEY }, "POST", path, { body });

async function newRun(model: string): Promise<string> {
  const created = await post("/v1/runs", { base_model: model, seed: 1 });
  expect(created.status).toBe(201);
  return created.body.run_id as string;
}

describe.each(["chat-llama3", "chat-qwen3"])("%s", (model) => {
  it("tokenize renders as jinja2 does and tokenizes with the checkpoint's tokenizer", async () => {
    for (const add of [false, true]) {
      const reply = await post(`/v1/models/${model}/tokenize`, {
        messages: CONVERSATION,
        add_generation_prompt: add,
        chat_template_kwargs: { enable_thinking: false },
      });
      expect(reply.status).toBe(200);
      expect(reply.body.tokens).toEqual(tokenizers[model]!.encode(reply.body.text, { add_special_tokens: false }).ids);
      if (hasJinja2()) {
        const config = JSON.parse(await readFile(join(dirs[model]!, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
        const variables: Record<string, unknown> = { enable_thinking: false };
        for (const k of ["bos_token", "eos_token", "pad_token", "unk_token"]) if (typeof config[k] === "string") variables[k] = config[k];
        if (Array.isArray(config.additional_special_tokens)) variables.additional_special_tokens = config.additional_special_tokens;
        const [expected] = renderWithJinja2({ t: config.chat_template as string }, [
          { template: "t", messages: CONVERSATION, add_generation_prompt: add, variables },
        ]);
        expect({ text: reply.body.text }).toEqual(expected);
      }
    }
  });

  it("forward weighs exactly the assistant turns' generated tokens, through the end-of-turn token", async () => {
    const runId = await newRun(model);
    const reply = await post(`/v1/runs/${runId}/forward`, { batch: [{ messages: CONVERSATION }, { messages: CONVERSATION, train_on: "last_assistant" }] });
    expect(reply.status).toBe(200);
    const trained = (e: number) => {
      const tokens: number[] = reply.body.tokens[e];
      const pieces: string[] = [];
      let run: number[] = [];
      reply.body.weights[e].forEach((w: number, k: number) => {
        if (w > 0) run.push(tokens[k]!);
        else if (run.length > 0) {
          pieces.push(tokenizers[model]!.decode(run, { skip_special_tokens: false }));
          run = [];
        }
      });
      if (run.length > 0) pieces.push(tokenizers[model]!.decode(run, { skip_special_tokens: false }));
      return pieces;
    };
    const expected =
      model === "chat-llama3" ? ["Paris.<|eot_id|>", "東京 (Tokyo).<|eot_id|>"] : ["Paris.<|im_end|>", "<think>\n\n</think>\n\n東京 (Tokyo).<|im_end|>"];
    expect(trained(0)).toEqual(expected);
    expect(trained(1)).toEqual(expected.slice(1));
    const fb = await post(`/v1/runs/${runId}/forward_backward`, { batch: [{ messages: CONVERSATION }] });
    expect(fb.status).toBe(200);
    expect(fb.body.num_tokens).toBe(reply.body.weights[0].filter((w: number) => w > 0).length);
  });

  it("samples from messages as from the rendered prompt's ids, never past an end-of-turn token", async () => {
    const runId = await newRun(model);
    const prompt = CONVERSATION.slice(0, 2);
    const params = { max_tokens: 6, temperature: 1, seed: 4, logprobs: true };
    const fromMessages = await post(`/v1/runs/${runId}/sample`, { messages: [prompt], ...params });
    expect(fromMessages.status).toBe(200);
    const ids = (await post(`/v1/models/${model}/tokenize`, { messages: prompt, add_generation_prompt: true })).body.tokens;
    const fromIds = await post(`/v1/runs/${runId}/sample`, { prompt_tokens: [ids], ...params });
    const a = fromMessages.body.samples[0];
    const b = fromIds.body.samples[0];
    expect(b.tokens.slice(0, a.tokens.length)).toEqual(a.tokens);
    const endOfTurn = model === "chat-llama3" ? 128009 : 151645;
    expect(a.tokens).not.toContain(endOfTurn);
    if (a.finish_reason === "stop") expect(b.tokens[a.tokens.length]).toBe(endOfTurn);
    else expect(a.tokens).toEqual(b.tokens);
  });

  it("the openai client gets the same answer from /v1/chat/completions, streamed or not", async () => {
    const runId = await newRun(model);
    const client = new OpenAI({ apiKey: KEY, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const messages = CONVERSATION.slice(0, 2) as OpenAI.ChatCompletionMessageParam[];
    const plain = await client.chat.completions.create({ model: runId, messages, max_tokens: 5, temperature: 0 });
    const sampled = await post(`/v1/runs/${runId}/sample`, { messages: [messages], max_tokens: 5, temperature: 0 });
    expect(plain.choices[0]!.message.content).toBe(sampled.body.samples[0].text);
    let text = "";
    for await (const chunk of await client.chat.completions.create({ model: runId, messages, max_tokens: 5, temperature: 0, stream: true })) {
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text).toBe(plain.choices[0]!.message.content);
  });
});

describe("templates that cannot render", () => {
  it("a template that raises is a 400 quoting it; a checkpoint without a template refuses messages", async () => {
    const raised = await post("/v1/models/chat-raises/tokenize", { messages: CONVERSATION });
    expect(raised.status).toBe(400);
    expect(raised.body.error.code).toBe("chat_template_error");
    expect(raised.body.error.message).toContain("System role not supported");
    expect(raised.body.error.param).toBe("messages");
    const runId = await newRun("chat-raises");
    const fb = await post(`/v1/runs/${runId}/forward_backward`, { batch: [{ messages: CONVERSATION.slice(1, 3) }, { messages: CONVERSATION }] });
    expect(fb.status).toBe(400);
    expect(fb.body.error).toMatchObject({ code: "chat_template_error", param: "batch[1].messages" });
    expect(fb.body.error.message).toContain("System role not supported");
    const none = await post("/v1/models/chat-none/tokenize", { messages: CONVERSATION });
    expect(none.status).toBe(400);
    expect(none.body.error).toMatchObject({ code: "no_chat_template", param: "messages" });
  });
});
