import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { BadRequestError, type ChatMessage, type ConversationExample, ValidationError } from "../../src/index.js";
import { readConversations } from "../../src/node/index.js";
import { call, useTestClient, useTestServer } from "./helpers.js";

// Conversations through the SDK against the real server: typed roles, tokenize with messages,
// training and forward on conversation examples, sampling and streaming from messages, and a
// trainEpoch over a JSONL file of {"messages": [...]} lines.

const fixture = useTestServer();
const sdk = useTestClient(fixture, { strictResponseValidation: true });

const CHATS: ChatMessage[][] = [
  ["red?", "apple"],
  ["blue?", "sky"],
  ["green?", "leaf"],
].map(([q, a]) => [
  { role: "user", content: q! },
  { role: "assistant", content: a! },
]);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "signal-chat-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("conversations from the SDK", () => {
  it("types roles and content", () => {
    expectTypeOf<ChatMessage["role"]>().toEqualTypeOf<"system" | "user" | "assistant" | "tool">();
    expectTypeOf<ChatMessage["content"]>().toEqualTypeOf<string>();
    // @ts-expect-error an unknown role does not compile
    const bad: ChatMessage = { role: "robot", content: "x" };
    expect(bad.role).toBe("robot");
    expectTypeOf<ConversationExample["train_on"]>().toEqualTypeOf<"all_assistant" | "last_assistant" | undefined>();
  });

  it("tokenize renders a conversation; forward and forwardBackward train on its assistant turns", async () => {
    const rendered = await sdk.client.tokenize("signal-byte-tiny", { messages: CHATS[0]!.slice(0, 1), add_generation_prompt: true });
    expect(rendered.text).toBe("<|bos|>user: red?<|eos|>assistant: ");
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny", seed: 2, learning_rate: 0.02 });
    const batch = CHATS.map((messages) => ({ messages }));
    const forward = await run.forward(batch);
    expect(forward.tokens[0]!.slice(0, rendered.tokens.length)).toEqual(rendered.tokens);
    expect(forward.weights[0]!.reduce((a, b) => a + b, 0)).toBe("apple".length + 1);
    const fb = await run.forwardBackward(batch);
    expect(fb.num_tokens).toBe(forward.num_tokens);
    expect(fb.loss).toBeCloseTo(forward.loss, 1);
    const step = await run.trainBatch([{ messages: CHATS[1]!, train_on: "last_assistant" }]);
    expect(step.num_tokens).toBe("sky".length + 1);
  });

  it("samples and streams from messages as from the rendered prompt's token ids", async () => {
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny", seed: 5 });
    const prompts = CHATS.map((c) => c.slice(0, 1));
    const params = { max_tokens: 10, temperature: 0.7, seed: 11 };
    const texts = await run.sample(prompts, params);
    const ids = await Promise.all(
      prompts.map(async (messages) => (await sdk.client.tokenize("signal-byte-tiny", { messages, add_generation_prompt: true })).tokens),
    );
    const viaIds = await call(fixture.server, "POST", `/v1/runs/${run.run_id}/sample`, { body: { prompt_tokens: ids, ...params } });
    expect(texts).toEqual(viaIds.body.samples.map((s: { text: string }) => s.text));
    let streamed = "";
    for await (const chunk of run.streamSample(prompts[0]!, params)) streamed += chunk.delta;
    expect(streamed).toBe(texts[0]);
    const inference = sdk.client.inference(run.run_id);
    expect(await inference.sample(prompts, params)).toEqual(texts);
  });

  it("trainEpoch trains over a JSONL file of conversations, batched; a bad line names file and line", async () => {
    const file = join(dir, "chats.jsonl");
    await writeFile(
      file,
      `${CHATS.map((messages) => JSON.stringify({ messages })).join("\n")}\n\n${JSON.stringify({ messages: CHATS[0], train_on: "last_assistant" })}\n`,
    );
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny", seed: 6, learning_rate: 0.02 });
    const batches: ConversationExample[][] = [];
    for await (const b of readConversations(file, { batchSize: 2 })) batches.push(b);
    expect(batches.map((b) => b.length)).toEqual([2, 2]);
    expect(batches[1]![1]!.train_on).toBe("last_assistant");
    const training = sdk.client.training(run.run_id);
    const epoch = await training.trainEpoch(readConversations(file, { batchSize: 2 }), { progress: false });
    expect(epoch.steps).toBe(2);
    expect(epoch.num_tokens).toBe(["apple", "sky", "leaf", "apple"].reduce((n, a) => n + a.length + 1, 0));
    await training.close();

    const broken = join(dir, "broken.jsonl");
    await writeFile(broken, `${JSON.stringify({ messages: CHATS[0] })}\n{"text": "no messages"}\n`);
    const read = async (source: Parameters<typeof readConversations>[0]) => {
      for await (const _ of readConversations(source)) void _;
    };
    const missing = await read(broken).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ValidationError);
    expect(missing).toMatchObject({ message: `readConversations ${broken}: line 2: expected {"messages": [...]}`, issues: [{ path: "line 2: messages" }] });
  });

  it("readConversations checks each line against the spec's ConversationExample before it is sent, from a path or any readJsonl source", async () => {
    const lines = [
      JSON.stringify({ messages: CHATS[0], tools: [{ type: "function" }] }),
      "",
      JSON.stringify({ messages: CHATS[1], train_on: "every_message" }),
    ];
    const file = join(dir, "bad-train-on.jsonl");
    await writeFile(file, `${lines.join("\n")}\n`);
    const failure = async (source: Parameters<typeof readConversations>[0]) => {
      const got: ConversationExample[][] = [];
      const error = await (async () => {
        for await (const b of readConversations(source, { batchSize: 1 })) got.push(b);
      })().catch((e: unknown) => e);
      return { got, error };
    };
    for (const source of [file, pathToFileURL(file), new Response(lines.join("\n")), [lines.join("\n")]]) {
      const { got, error } = await failure(source);
      // The first line's conversation came through, its unknown `tools` dropped; the third is refused naming its field.
      expect(got).toEqual([[{ messages: CHATS[0] }]]);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toMatch(/^readConversations.*: line 3: train_on: /);
      expect((error as ValidationError).issues[0]?.path).toBe("line 3: train_on");
    }
    const notJson = await failure([`${JSON.stringify({ messages: CHATS[0] })}\n{oops`]);
    expect(notJson.error).toMatchObject({ message: expect.stringMatching(/^readConversations: line 2: not JSON/) });
    await expect(failure(join(dir, "no-such-file.jsonl")).then((r) => r.error)).resolves.toMatchObject({ code: "ENOENT" });
  });

  it("a bad conversation is a BadRequestError naming the field", async () => {
    const run = await sdk.client.createRun({ base_model: "signal-byte-tiny", seed: 7 });
    const robot = [{ role: "robot", content: "x" }] as unknown as ChatMessage[];
    const error = await run.forwardBackward([{ messages: CHATS[0]! }, { messages: robot }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, code: "invalid_conversation", param: "batch[1].messages[0].role" });
    await expect(run.sample([[]])).rejects.toMatchObject({ status: 400, param: "messages[0]" });
  });
});
