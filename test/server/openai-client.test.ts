import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { QA, call, createTinyRun, useTestServer } from "./helpers.js";

let runId: string;
let client: OpenAI;
const fixture = useTestServer();
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
  for (let i = 0; i < 5; i++) await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
  await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`);
  await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
  client = new OpenAI({ apiKey: fixture.server.key, baseURL: `${fixture.server.url}/v1`, maxRetries: 0 });
});

async function sampled(body: Record<string, unknown>): Promise<string[]> {
  const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/sample`, { body });
  return reply.body.samples.map((s: { text: string }) => s.text);
}

describe("the openai npm client against /v1/completions", () => {
  it("samples a fine-tune's live weights with the same text as sample", async () => {
    const completion = await client.completions.create({ model: runId, prompt: QA[1]!.prompt, max_tokens: 12, temperature: 0 });
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]!.text).toBe((await sampled({ prompts: [QA[1]!.prompt], max_tokens: 12, temperature: 0 }))[0]);
  });

  it("samples a checkpoint as run_id@step, several prompts, with stop strings and a seed", async () => {
    const prompts = QA.map((q) => q.prompt);
    const completion = await client.completions.create({ model: `${runId}@5`, prompt: prompts, max_tokens: 10, temperature: 0.7, seed: 9, stop: "\n" });
    const expected = await sampled({ prompts, max_tokens: 10, temperature: 0.7, seed: 9, stop: ["\n"], step: 5 });
    expect(completion.choices.map((c) => c.text)).toEqual(expected);
  });

  it("streams the same text", async () => {
    const stream = await client.completions.create({ model: runId, prompt: QA[2]!.prompt, max_tokens: 12, temperature: 0, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe((await sampled({ prompts: [QA[2]!.prompt], max_tokens: 12, temperature: 0 }))[0]);
    expect(["stop", "length"]).toContain(finish);
  });

  it("surfaces the server's errors as the client's typed errors", async () => {
    await expect(client.completions.create({ model: "run_0000000000000000", prompt: "a" })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const stranger = new OpenAI({ apiKey: "sk-nobody", baseURL: `${fixture.server.url}/v1`, maxRetries: 0 });
    await expect(stranger.completions.create({ model: runId, prompt: "a" })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
