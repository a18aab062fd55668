import { beforeAll, describe, expect, it } from "vitest";
import { call, createTinyRun, useTestServer } from "./helpers.js";

// Conversations on the built-in byte model over real HTTP: its documented template
// (`<|bos|>role: content<|eos|>...assistant: `), the assistant mask `forward` reports, training,
// sampling from messages, and bad conversations as 400s naming the field.

const BOS = 256;
const EOS = 257;
const bytes = (s: string) => [...Buffer.from(s, "utf8")];

const CHATS = [
  ["red?", "apple"],
  ["blue?", "sky"],
  ["green?", "leaf"],
  ["gold?", "sun"],
].map(([q, a]) => ({
  messages: [
    { role: "user", content: q! },
    { role: "assistant", content: a! },
  ],
}));

const LONG = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "1+2?" },
  { role: "assistant", content: "3" },
  { role: "user", content: "Grüße, 你好?" },
  { role: "assistant", content: " ünï 🎉 " },
];

let runId: string;
const fixture = useTestServer();
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
});

const post = (path: string, body: unknown) => call(fixture.server, "POST", path, { body });

describe("conversations on a byte model", () => {
  it("tokenize renders the byte template and reads <|bos|> and <|eos|> as BOS and EOS", async () => {
    const reply = await post("/v1/models/signal-byte-tiny/tokenize", { messages: LONG.slice(0, 2), add_generation_prompt: true });
    expect(reply.status).toBe(200);
    expect(reply.body.text).toBe("<|bos|>system: Be brief.<|eos|>user: 1+2?<|eos|>assistant: ");
    expect(reply.body.tokens).toEqual([BOS, ...bytes("system: Be brief."), EOS, ...bytes("user: 1+2?"), EOS, ...bytes("assistant: ")]);
    const without = await post("/v1/models/signal-byte-tiny/tokenize", { messages: LONG.slice(0, 2) });
    expect(without.body.text).toBe("<|bos|>system: Be brief.<|eos|>user: 1+2?<|eos|>");
    const text = await post("/v1/models/signal-byte-tiny/tokenize", { text: "hi", add_bos: true });
    expect(text.body.tokens).toEqual([BOS, ...bytes("hi")]);
    expect(text.body.text).toBeUndefined();
  });

  it("forward returns the tokens and weights it used: 1 on each assistant answer and its EOS, or on the last one only", async () => {
    const turn = (role: string, content: string, trained: boolean) => {
      const head = bytes(`${role}: `);
      const rest = [...bytes(content), EOS];
      return { tokens: [...head, ...rest], weights: [...head.map(() => 0), ...rest.map(() => (trained ? 1 : 0))] };
    };
    const expected = (lastOnly: boolean) => {
      const parts = [
        turn("system", "Be brief.", false),
        turn("user", "1+2?", false),
        turn("assistant", "3", !lastOnly),
        turn("user", "Grüße, 你好?", false),
        turn("assistant", " ünï 🎉 ", true),
      ];
      return { tokens: [BOS, ...parts.flatMap((p) => p.tokens)], weights: [0, ...parts.flatMap((p) => p.weights)] };
    };
    const reply = await post(`/v1/runs/${runId}/forward`, {
      batch: [{ messages: LONG }, { messages: LONG, train_on: "last_assistant" }, { prompt: "Q:", completion: " A" }],
    });
    expect(reply.status).toBe(200);
    const all = expected(false);
    const last = expected(true);
    expect(reply.body.tokens).toEqual([all.tokens, last.tokens, [BOS, ...bytes("Q: A"), EOS]]);
    expect(reply.body.weights).toEqual([all.weights, last.weights, [0, 0, 0, 1, 1, 1]]);
    expect(reply.body.num_tokens).toBe(all.weights.filter((w) => w === 1).length + last.weights.filter((w) => w === 1).length + 3);
    expect(reply.body.logprobs[0]).toHaveLength(all.tokens.length);
  });

  it("training on conversations is training on those tokens and weights", async () => {
    const viaMessages = await post(`/v1/runs/${runId}/forward_backward`, { batch: CHATS });
    const forward = await post(`/v1/runs/${runId}/forward`, { batch: CHATS });
    const viaTokens = await post(`/v1/runs/${runId}/forward_backward`, {
      batch: forward.body.tokens.map((tokens: number[], i: number) => ({ tokens, weights: forward.body.weights[i] })),
    });
    expect(viaMessages.status).toBe(200);
    expect(viaTokens.body.loss).toBe(viaMessages.body.loss);
    expect(viaTokens.body.grad_norm).toBe(viaMessages.body.grad_norm);
    expect(viaMessages.body.num_tokens).toBe(CHATS.reduce((n, c) => n + Buffer.byteLength(c.messages[1]!.content) + 1, 0));
    await post(`/v1/runs/${runId}/zero_grad`, {});
    let first = 0;
    let loss = 0;
    for (let i = 0; i < 12; i++) {
      const step = await post(`/v1/runs/${runId}/train_step`, { batch: CHATS });
      expect(step.status).toBe(200);
      if (i === 0) first = step.body.loss;
      loss = step.body.loss;
    }
    expect(loss).toBeLessThan(first);
  });

  it("sampling from messages gives the tokens of sampling from the rendered prompt's ids and stops at EOS", async () => {
    const conversations = CHATS.map((c) => c.messages.slice(0, 1));
    const params = { max_tokens: 12, temperature: 0.8, seed: 5, logprobs: true };
    const fromMessages = await post(`/v1/runs/${runId}/sample`, { messages: conversations, ...params });
    expect(fromMessages.status).toBe(200);
    const prompts = await Promise.all(
      conversations.map(async (messages) => (await post("/v1/models/signal-byte-tiny/tokenize", { messages, add_generation_prompt: true })).body.tokens),
    );
    const fromTokens = await post(`/v1/runs/${runId}/sample`, { prompt_tokens: prompts, ...params });
    expect(fromMessages.body.samples).toEqual(fromTokens.body.samples);
    for (const s of fromMessages.body.samples) {
      expect(s.tokens).not.toContain(EOS);
      expect(s.text).not.toContain("<|eos|>");
    }
    const greedy = await post(`/v1/runs/${runId}/sample`, { messages: conversations, max_tokens: 24, temperature: 0 });
    expect(greedy.body.samples.some((s: { finish_reason: string }) => s.finish_reason === "stop")).toBe(true);
  });

  it("a bad conversation is a 400 naming the field", async () => {
    const bad = async (path: string, body: unknown, param: string, code = "invalid_conversation") => {
      const reply = await post(path, body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error.code).toBe(code);
      expect(reply.body.error.param).toBe(param);
      expect(reply.body.error.message).toContain(param);
      return reply.body.error.message as string;
    };
    const fb = `/v1/runs/${runId}/forward_backward`;
    const robot = [...LONG.slice(0, 2), { role: "robot", content: "beep" }];
    expect(await bad(fb, { batch: [CHATS[0], { messages: robot }] }, "batch[1].messages[2].role")).toContain("system, user, assistant, tool");
    await bad(fb, { batch: [{ messages: [{ role: "user", content: 42 }] }] }, "batch[0].messages[0].content");
    await bad(fb, { batch: [{ messages: [{ role: "user" }] }] }, "batch[0].messages[0].content");
    await bad(fb, { batch: [{ messages: [] }] }, "batch[0].messages");
    await bad(`/v1/runs/${runId}/train_step`, { batch: [{ messages: LONG.slice(0, 2) }] }, "batch[0].messages");
    await bad(`/v1/runs/${runId}/forward`, { batch: [{ messages: LONG, chat_template_kwargs: { messages: [] } }] }, "batch[0].chat_template_kwargs.messages");
    await bad(`/v1/runs/${runId}/sample`, { messages: [LONG.slice(0, 2), [{ role: "usr", content: "x" }]] }, "messages[1][0].role");
    await bad(`/v1/runs/${runId}/sample`, { messages: [[]] }, "messages[0]");
    await bad("/v1/models/signal-byte-tiny/tokenize", { messages: [] }, "messages");
    await bad("/v1/models/signal-byte-tiny/tokenize", { messages: [{ role: "user", content: ["a"] }] }, "messages[0].content");
    await bad("/v1/models/signal-byte-tiny/tokenize", { text: "a", messages: LONG }, "text", "invalid_request");
    await bad(`/v1/runs/${runId}/sample`, { prompts: ["a"], messages: [LONG] }, "prompts", "invalid_request");
    await bad("/v1/chat/completions", { model: runId, messages: [{ role: "bot", content: "x" }] }, "messages[0].role");
    // The run's weights are untouched by refused calls.
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body.status).toBe("active");
  });
});
