import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { call, createTinyRun, useTestServer } from "./helpers.js";

// The openai npm client driving /v1/chat/completions on a fine-tuned byte model, plain and
// streamed: the same answer as `sample` with the same conversation, the run at a step, and the
// server's errors as the client's typed errors.

const CHATS = [
  ["red?", "apple"],
  ["blue?", "sky"],
  ["green?", "leaf"],
].map(([q, a]) => [
  { role: "user" as const, content: q! },
  { role: "assistant" as const, content: a! },
]);

let runId: string;
let client: OpenAI;
const fixture = useTestServer();
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
  const batch = CHATS.map((messages) => ({ messages }));
  for (let i = 0; i < 10; i++) await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch } });
  await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`);
  await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch } });
  client = new OpenAI({ apiKey: fixture.server.key, baseURL: `${fixture.server.url}/v1`, maxRetries: 0 });
});

async function sampled(messages: object[], body: Record<string, unknown>) {
  const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { messages: [messages], ...body } });
  expect(reply.status).toBe(200);
  return reply.body.samples as { text: string; finish_reason: string; tokens?: number[]; logprobs?: number[] }[];
}

describe("the openai npm client against /v1/chat/completions", () => {
  it("answers a conversation with the text sample gives it, as the assistant", async () => {
    const messages = [{ role: "system" as const, content: "Be brief." }, CHATS[0]![0]!];
    const completion = await client.chat.completions.create({ model: runId, messages, max_tokens: 12, temperature: 0 });
    expect(completion.object).toBe("chat.completion");
    expect(completion.id).toMatch(/^chatcmpl_/);
    const [expected] = await sampled(messages, { max_tokens: 12, temperature: 0 });
    expect(completion.choices[0]!.message).toEqual({ role: "assistant", content: expected!.text });
    expect(completion.choices[0]!.finish_reason).toBe(expected!.finish_reason);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
  });

  it("samples a checkpoint as run_id@step with n, a seed and logprobs", async () => {
    const messages = [CHATS[1]![0]!];
    const completion = await client.chat.completions.create({ model: `${runId}@10`, messages, max_tokens: 8, temperature: 0.9, seed: 3, n: 2, logprobs: true });
    const expected = await sampled(messages, { max_tokens: 8, temperature: 0.9, seed: 3, n: 2, logprobs: true, step: 10 });
    expect(completion.choices.map((c) => c.message.content)).toEqual(expected.map((s) => s.text));
    expect(completion.choices.map((c) => c.logprobs!.content!.map((l) => l.logprob))).toEqual(expected.map((s) => s.logprobs));
  });

  it("streams the same answer, role first, usage last when asked", async () => {
    const messages = [CHATS[2]![0]!];
    const stream = await client.chat.completions.create({
      model: runId,
      messages,
      max_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    const roles: string[] = [];
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      const choice = chunk.choices[0];
      if (choice?.delta.role) roles.push(choice.delta.role);
      text += choice?.delta.content ?? "";
      finish = choice?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    const [expected] = await sampled(messages, { max_tokens: 12, temperature: 0 });
    expect(text).toBe(expected!.text);
    expect(roles).toEqual(["assistant"]);
    expect(finish).toBe(expected!.finish_reason);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
  });

  it("surfaces bad conversations and unknown runs as the client's typed errors", async () => {
    const bad = client.chat.completions.create({ model: runId, messages: [{ role: "robot", content: "x" } as never] });
    await expect(bad).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(bad).rejects.toMatchObject({ status: 400, code: "invalid_conversation", param: "messages[0].role" });
    await expect(client.chat.completions.create({ model: runId, messages: [] })).rejects.toMatchObject({ status: 400, param: "messages" });
    await expect(client.chat.completions.create({ model: "run_0000000000000000", messages: [CHATS[0]![0]!] })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.chat.completions.create({ model: runId, messages: [CHATS[0]![0]!], max_tokens: 300 })).rejects.toMatchObject({
      status: 400,
      code: "context_length_exceeded",
      param: "messages",
    });
  });
});
