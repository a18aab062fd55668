import { beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/index.js";
import { QA, call, createTinyRun, useTestClient, useTestServer } from "./helpers.js";

// `stop_token_ids` and `top_logprobs` on a built-in byte model, over real HTTP: `sample` (plain
// and streamed, through the SDK), `/v1/completions` and `/v1/chat/completions`. The top lists are
// checked against `forward` over every candidate token, an independent computation of the
// same distribution (the decoder's rows, not the sampler's).

const fixture = useTestServer();
const sdk = useTestClient(fixture);
let runId: string;
const PROMPT = "Q: red?\nA:";
const BOS = 256;
const EOS = 257;
const PAD = 258;

beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
  for (let i = 0; i < 4; i++) await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
});

interface Top {
  token: number;
  logprob: number;
}

async function sample(body: Record<string, unknown>) {
  const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body.samples as {
    text: string;
    finish_reason: string;
    tokens: number[];
    logprobs: number[];
    top_logprobs?: Top[][];
    prompt_tokens?: number[];
    prompt_top_logprobs?: (Top[] | null)[];
  }[];
}

/** A token of `tokens` (past the first) whose first occurrence is at its index, and that index. */
function stopCandidate(tokens: number[]): { id: number; at: number } {
  for (let at = 1; at < tokens.length; at++) if (tokens.indexOf(tokens[at]!) === at) return { id: tokens[at]!, at };
  throw new Error(`no usable stop token in ${JSON.stringify(tokens)}`);
}

/**
 * The whole next-token distribution after `prefix`, by `forward`: the logprob of each candidate
 * as the last token of `prefix + [candidate]`. Every id a sample can produce (all but BOS and PAD).
 */
async function forwardDistribution(prefix: number[]): Promise<Top[]> {
  const candidates = [...Array(256).keys(), EOS];
  const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: candidates.map((c) => ({ tokens: [...prefix, c] })) } });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return candidates.map((token, i) => ({ token, logprob: reply.body.logprobs[i].at(-1) as number }));
}

/** Checks a top list against the full distribution: the k most likely, sorted, values to 1e-5. */
function expectTopOf(top: Top[], distribution: Top[], k: number): void {
  expect(top).toHaveLength(k);
  for (let i = 1; i < top.length; i++) expect(top[i]!.logprob).toBeLessThanOrEqual(top[i - 1]!.logprob);
  const sorted = [...distribution].sort((a, b) => b.logprob - a.logprob || a.token - b.token);
  // Ids as forward ranks them (a near tie may swap by rounding: compare the values too).
  expect(top.map((t) => t.logprob)).toEqual(sorted.slice(0, k).map((t) => expect.closeTo(t.logprob, 5)));
  for (const t of top) {
    expect(t.token).not.toBe(BOS);
    expect(t.token).not.toBe(PAD);
    expect(t.logprob).toBeCloseTo(distribution.find((d) => d.token === t.token)!.logprob, 5);
  }
}

describe("stop_token_ids", () => {
  it("ends sample before the listed id with finish_reason stop, plain and streamed", async () => {
    const [full] = await sample({ prompts: [PROMPT], max_tokens: 16, temperature: 0, logprobs: true });
    const { id, at } = stopCandidate(full!.tokens);
    const [cut] = await sample({ prompts: [PROMPT], max_tokens: 16, temperature: 0, logprobs: true, stop_token_ids: [id] });
    expect(cut!.tokens).toEqual(full!.tokens.slice(0, at));
    expect(cut!.finish_reason).toBe("stop");
    expect(cut!.tokens).not.toContain(id);
    let streamed = "";
    let finish: string | null = null;
    for await (const chunk of sdk.client.inference(runId).streamSample(PROMPT, { max_tokens: 16, temperature: 0, stop_token_ids: [id] })) {
      streamed += chunk.delta;
      finish = chunk.finish_reason ?? finish;
    }
    expect(streamed).toBe(cut!.text);
    expect(finish).toBe("stop");
  });

  it("ends /v1/completions before the listed id, plain and streamed", async () => {
    const [full] = await sample({ prompts: [PROMPT], max_tokens: 16, temperature: 0, logprobs: true });
    const { id } = stopCandidate(full!.tokens);
    const [cut] = await sample({ prompts: [PROMPT], max_tokens: 16, temperature: 0, stop_token_ids: [id] });
    const reply = await call(fixture.server, "POST", "/v1/completions", {
      body: { model: runId, prompt: PROMPT, max_tokens: 16, temperature: 0, stop_token_ids: [id] },
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body.choices[0].text).toBe(cut!.text);
    expect(reply.body.choices[0].finish_reason).toBe("stop");
    expect(cut!.text.length).toBeLessThan(full!.text.length);
    const streamed = await call(fixture.server, "POST", "/v1/completions", {
      body: { model: runId, prompt: PROMPT, max_tokens: 16, temperature: 0, stop_token_ids: [id], stream: true },
    });
    const chunks = sseData(streamed.body);
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe(cut!.text);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
  });

  it("ends /v1/chat/completions before the listed id, as sample with the same messages", async () => {
    const messages = [{ role: "user", content: "red?" }];
    const [full] = await sample({ messages: [messages], max_tokens: 16, temperature: 0, logprobs: true });
    const { id } = stopCandidate(full!.tokens);
    const [cut] = await sample({ messages: [messages], max_tokens: 16, temperature: 0, stop_token_ids: [id] });
    expect(cut!.finish_reason).toBe("stop");
    const reply = await call(fixture.server, "POST", "/v1/chat/completions", {
      body: { model: runId, messages, max_tokens: 16, temperature: 0, stop_token_ids: [id] },
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body.choices[0].message.content).toBe(cut!.text);
    expect(reply.body.choices[0].finish_reason).toBe("stop");
    const streamed = await call(fixture.server, "POST", "/v1/chat/completions", {
      body: { model: runId, messages, max_tokens: 16, temperature: 0, stop_token_ids: [id], stream: true },
    });
    const chunks = sseData(streamed.body);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(cut!.text);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
  });

  it("refuses an id outside the vocabulary with a 400 naming it, on every endpoint; the SDK refuses a negative one before sending", async () => {
    const bodies: [string, Record<string, unknown>][] = [
      [`/v1/runs/${runId}/sample`, { prompts: [PROMPT], stop_token_ids: [10, 259] }],
      ["/v1/completions", { model: runId, prompt: PROMPT, stop_token_ids: [10, 259] }],
      ["/v1/chat/completions", { model: runId, messages: [{ role: "user", content: "hi" }], stop_token_ids: [10, 259] }],
    ];
    for (const [path, body] of bodies) {
      const reply = await call(fixture.server, "POST", path, { body });
      expect(reply.status, path).toBe(400);
      expect(reply.body.error.param, path).toBe("stop_token_ids[1]");
      expect(reply.body.error.message).toContain("259");
    }
    const error = await sdk.client
      .inference(runId)
      .sample([PROMPT], { stop_token_ids: [-1] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toBe("stop_token_ids[0]");
  });
});

describe("top_logprobs", () => {
  it("lists each generated and prompt position's k most likely tokens, as forward computes them", async () => {
    const k = 5;
    const [s] = await sample({ prompts: [PROMPT], max_tokens: 8, temperature: 0, logprobs: true, prompt_logprobs: true, top_logprobs: k });
    expect(s!.top_logprobs).toHaveLength(s!.tokens.length);
    s!.top_logprobs!.forEach((top, j) => {
      expect(top).toHaveLength(k);
      // Greedy: the first entry is the token chosen, with the sampled logprob to the bit.
      expect(top[0]).toEqual({ token: s!.tokens[j], logprob: s!.logprobs[j] });
    });
    const prompt = s!.prompt_tokens!;
    expect(s!.prompt_top_logprobs).toHaveLength(prompt.length);
    expect(s!.prompt_top_logprobs![0]).toBeNull();
    // Independent: the whole distribution at a prompt position and at two generated ones.
    expectTopOf(s!.prompt_top_logprobs![3]!, await forwardDistribution(prompt.slice(0, 3)), k);
    expect(s!.tokens.length).toBeGreaterThan(2);
    const j = s!.tokens.length - 1;
    expectTopOf(s!.top_logprobs![0]!, await forwardDistribution(prompt), k);
    expectTopOf(s!.top_logprobs![j]!, await forwardDistribution([...prompt, ...s!.tokens.slice(0, j)]), k);
  });

  it("gives a sampled token its own logprob in the list when it is there, at any temperature", async () => {
    const [s] = await sample({ prompts: [PROMPT], max_tokens: 24, temperature: 1.3, top_k: 40, seed: 7, logprobs: true, top_logprobs: 20 });
    let listed = 0;
    s!.tokens.forEach((token, j) => {
      const top = s!.top_logprobs![j]!;
      expect(top).toHaveLength(20);
      for (let i = 1; i < top.length; i++) expect(top[i]!.logprob).toBeLessThanOrEqual(top[i - 1]!.logprob);
      const entry = top.find((t) => t.token === token);
      if (entry) {
        listed++;
        expect(entry.logprob).toBe(s!.logprobs[j]);
      } else expect(s!.logprobs[j]).toBeLessThanOrEqual(top.at(-1)!.logprob);
    });
    expect(listed).toBeGreaterThan(0);
  });

  it("streams each chunk's top list with its logprob", async () => {
    const [s] = await sample({ prompts: [PROMPT], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 });
    const chunks = [];
    for await (const chunk of sdk.client.inference(runId).streamSample(PROMPT, { max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 }))
      chunks.push(chunk);
    const withText = chunks.filter((c) => c.delta !== "");
    expect(withText.length).toBeGreaterThan(0);
    for (const c of withText) {
      expect(c.top_logprobs).toHaveLength(3);
      expect(c.top_logprobs![0]!.logprob).toBe(c.logprob);
    }
    // ASCII text: one chunk per token, the same lists as the plain answer.
    expect(withText.map((c) => c.top_logprobs)).toEqual(s!.top_logprobs!.slice(0, withText.length));
  });

  it("is a 400 naming top_logprobs without logprobs or prompt_logprobs; the SDK refuses 21 before sending", async () => {
    const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: [PROMPT], top_logprobs: 2 } });
    expect(reply.status).toBe(400);
    expect(reply.body.error.param).toBe("top_logprobs");
    const chat = await call(fixture.server, "POST", "/v1/chat/completions", {
      body: { model: runId, messages: [{ role: "user", content: "hi" }], top_logprobs: 2 },
    });
    expect(chat.status).toBe(400);
    expect(chat.body.error.param).toBe("top_logprobs");
    const error = await sdk.client
      .inference(runId)
      .sample([PROMPT], { logprobs: true, top_logprobs: 21 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).path).toBe("top_logprobs");
  });

  it("gives /v1/completions OpenAI's logprobs shape: tokens, token_logprobs, top_logprobs and text_offset", async () => {
    const [s] = await sample({ prompts: [PROMPT], max_tokens: 8, temperature: 0.9, seed: 3, logprobs: true, top_logprobs: 3 });
    const body = { model: runId, prompt: PROMPT, max_tokens: 8, temperature: 0.9, seed: 3, logprobs: 3 };
    const reply = await call(fixture.server, "POST", "/v1/completions", { body });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const lp = reply.body.choices[0].logprobs;
    // OpenAI's spelling of byte tokens: ASCII as itself, any other byte as `bytes:\xNN`, EOS as `<|endoftext|>`.
    const text = (t: number) => (t === EOS ? "<|endoftext|>" : t < 0x80 ? String.fromCharCode(t) : `bytes:\\x${t.toString(16).padStart(2, "0")}`);
    expect(lp.tokens).toEqual(s!.tokens.map(text));
    expect(lp.token_logprobs).toEqual(s!.logprobs);
    s!.tokens.forEach((token, j) => {
      // The k most likely and the sampled token, most likely first.
      const expected = Object.fromEntries(
        [...s!.top_logprobs![j]!, { token, logprob: s!.logprobs[j]! }].sort((a, b) => b.logprob - a.logprob).map((t) => [text(t.token), t.logprob]),
      );
      expect(lp.top_logprobs[j]).toEqual(expected);
      expect(Object.keys(lp.top_logprobs[j]).length).toBeGreaterThanOrEqual(3);
      expect(Object.keys(lp.top_logprobs[j]).length).toBeLessThanOrEqual(4);
    });
    // Where each token's text starts: the whole characters of the bytes before it.
    expect(lp.text_offset).toEqual(s!.tokens.map((_, j) => new TextDecoder().decode(Uint8Array.from(s!.tokens.slice(0, j)), { stream: true }).length));
    // Streamed (greedy, whose answer is ASCII: one chunk per token): the same numbers.
    const greedy = { ...body, temperature: 0 };
    const plain = (await call(fixture.server, "POST", "/v1/completions", { body: greedy })).body.choices[0].logprobs;
    expect(plain.tokens.every((t: string) => t.length === 1)).toBe(true);
    const streamed = sseData((await call(fixture.server, "POST", "/v1/completions", { body: { ...greedy, stream: true } })).body).filter(
      (c) => c.choices[0]?.text,
    );
    expect(streamed.length).toBeGreaterThan(1);
    expect(streamed.map((c) => c.choices[0].logprobs.top_logprobs[0])).toEqual(plain.top_logprobs.slice(0, streamed.length));
    expect(streamed.map((c) => c.choices[0].logprobs.text_offset[0])).toEqual(plain.text_offset.slice(0, streamed.length));
  });

  it("fills /v1/chat/completions' top_logprobs, the chosen token first under greedy decoding", async () => {
    const messages = [{ role: "user", content: "red?" }];
    const [s] = await sample({ messages: [messages], max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 4 });
    const reply = await call(fixture.server, "POST", "/v1/chat/completions", {
      body: { model: runId, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 4 },
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const content = reply.body.choices[0].logprobs.content as { token: string; logprob: number; top_logprobs: { token: string; logprob: number }[] }[];
    expect(content).toHaveLength(s!.tokens.length);
    content.forEach((entry, j) => {
      expect(entry.top_logprobs).toHaveLength(4);
      expect(entry.top_logprobs.map((t) => t.logprob)).toEqual(s!.top_logprobs![j]!.map((t) => t.logprob));
      expect(entry.top_logprobs[0]!.token).toBe(entry.token);
      expect(entry.top_logprobs[0]!.logprob).toBe(entry.logprob);
    });
  });
});

// A token whose text the stream holds back (the first byte of a two-byte character, a prefix of
// a stop string) used to send no chunk, and its logprob never arrived. Sampled at temperature 1.4
// the tiny model writes bytes past ASCII, so its answers are full of such tokens.
describe("a streamed answer", () => {
  const HOT = { max_tokens: 40, temperature: 1.4, seed: 11, stop: ["zq"] };

  it("from sample carries every generated token's logprob and top list, held-back text or not, as the plain answer has them", async () => {
    const [plain] = await sample({ prompts: [PROMPT], ...HOT, logprobs: true, top_logprobs: 2 });
    expect(
      plain!.tokens.some((t) => t >= 0x80),
      "the answer has a byte past ASCII",
    ).toBe(true);
    const chunks = [];
    for await (const chunk of sdk.client.inference(runId).streamSample(PROMPT, { ...HOT, logprobs: true, top_logprobs: 2 })) chunks.push(chunk);
    expect(chunks.some((c) => c.delta === "" && c.finish_reason === null)).toBe(true);
    expect(chunks.map((c) => c.delta).join("")).toBe(plain!.text);
    const carried = chunks.filter((c) => c.logprob !== undefined);
    expect(carried.map((c) => c.logprob)).toEqual(plain!.logprobs);
    expect(carried.map((c) => c.token)).toEqual(plain!.tokens);
    expect(carried.map((c) => c.top_logprobs)).toEqual(plain!.top_logprobs);
    // Ended on a stop token, which is not part of the completion: its chunk carries no logprob.
    const { id } = stopCandidate(plain!.tokens);
    const [cut] = await sample({ prompts: [PROMPT], ...HOT, stop_token_ids: [id], logprobs: true });
    expect(cut!.finish_reason).toBe("stop");
    const cutChunks = [];
    for await (const chunk of sdk.client.inference(runId).streamSample(PROMPT, { ...HOT, stop_token_ids: [id], logprobs: true })) cutChunks.push(chunk);
    expect(cutChunks.at(-1)).toMatchObject({ finish_reason: "stop" });
    expect(cutChunks.filter((c) => c.logprob !== undefined).map((c) => c.logprob)).toEqual(cut!.logprobs);
    // Without logprobs nothing changes: no chunk with neither text nor a finish reason.
    const bare = [];
    for await (const chunk of sdk.client.inference(runId).streamSample(PROMPT, HOT)) bare.push(chunk);
    expect(bare.filter((c) => c.delta === "" && c.finish_reason === null)).toEqual([]);
    expect(bare.map((c) => c.delta).join("")).toBe(plain!.text);
  });

  it("from /v1/completions and /v1/chat/completions carries the plain answer's logprobs, token by token", async () => {
    const completion = { model: runId, prompt: PROMPT, ...HOT, logprobs: 2 };
    const plain = (await call(fixture.server, "POST", "/v1/completions", { body: completion })).body.choices[0];
    const streamed = sseData((await call(fixture.server, "POST", "/v1/completions", { body: { ...completion, stream: true } })).body);
    const lp = streamed.map((c) => c.choices[0]?.logprobs).filter(Boolean);
    expect(streamed.map((c) => c.choices[0]?.text ?? "").join("")).toBe(plain.text);
    expect(plain.logprobs.tokens.some((t: string) => t.startsWith("bytes:"))).toBe(true);
    expect(lp.flatMap((l) => l.tokens)).toEqual(plain.logprobs.tokens);
    expect(lp.flatMap((l) => l.token_logprobs)).toEqual(plain.logprobs.token_logprobs);
    expect(lp.flatMap((l) => l.top_logprobs)).toEqual(plain.logprobs.top_logprobs);
    expect(lp.flatMap((l) => l.text_offset)).toEqual(plain.logprobs.text_offset);

    const chat = { model: runId, messages: [{ role: "user", content: "red?" }], ...HOT, logprobs: true, top_logprobs: 2 };
    const plainChat = (await call(fixture.server, "POST", "/v1/chat/completions", { body: chat })).body.choices[0];
    const streamedChat = sseData((await call(fixture.server, "POST", "/v1/chat/completions", { body: { ...chat, stream: true } })).body);
    expect(streamedChat.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe(plainChat.message.content);
    expect(streamedChat.flatMap((c) => c.choices[0]?.logprobs?.content ?? [])).toEqual(plainChat.logprobs.content);
  });
});

/** The JSON `data:` events of a server-sent-event body, without `[DONE]`. */
function sseData(body: unknown): any[] {
  return String(body)
    .split("\n")
    .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
    .map((line) => JSON.parse(line.slice(6)));
}
