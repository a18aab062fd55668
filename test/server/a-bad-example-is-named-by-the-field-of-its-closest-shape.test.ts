import { beforeAll, describe, expect, it } from "vitest";
import { call, createTinyRun, useTestServer } from "./helpers.js";

let runId: string;
const fixture = useTestServer();
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
});

async function param(batch: unknown[]): Promise<{ status: number; param: string | undefined; message: string }> {
  const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch } });
  return { status: reply.status, param: reply.body.error?.param, message: reply.body.error?.message };
}

describe("a batch example that matches no shape is refused naming the field of its closest shape", () => {
  it("a prompt without its completion: batch[0].completion", async () => {
    expect(await param([{ prompt: "Q: 2+2?\nA:" }])).toMatchObject({ status: 422, param: "batch[0].completion" });
  });

  it("a null advantage of a token example: batch[1].advantages[1]", async () => {
    const reply = await param([{ text: "fine" }, { tokens: [1, 2], logprobs: [0, -1], advantages: [0, null] }]);
    expect(reply).toMatchObject({ status: 422, param: "batch[1].advantages[1]" });
    expect(reply.message).toContain("received null");
  });

  it("a completion of the wrong type: batch[0].completion; a value like no shape names the shapes", async () => {
    expect(await param([{ prompt: "a", completion: 3 }])).toMatchObject({ status: 422, param: "batch[0].completion" });
    const none = await param([{ colour: "red" }]);
    expect(none).toMatchObject({ status: 422, param: "batch[0]" });
    expect(none.message).toContain("{ prompt, completion } | { text } | { tokens,");
  });
});
