import { describe, expect, expectTypeOf, it } from "vitest";
import * as zm from "zod/mini";
import { safeParse } from "zod/v4/core";
import { zRun } from "../../generated/zod/zod.gen.js";
import { tolerantSchema } from "../../src/internal/tolerant-reader.js";
import { APIResponseValidationError, NotFoundError, SignalClient, type Run } from "../../src/index.js";
import { BASE, KEY, RUN_ID, apiError, json, run, scriptedFetch } from "./helpers/scripted-fetch.js";

const chunk = { index: 0, prompt_index: 0, delta: "x", finish_reason: "content_filter" };
const newerRun = { ...run, status: "paused", owner: "team-a", optimizer: { ...run.optimizer, schedule: "cosine" } };
const client = (fetch: (request: Request) => Promise<Response>, strict = false) =>
  new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 0, strictResponseValidation: strict });

describe("the tolerant reader (the default)", () => {
  it("keeps unknown fields, nested ones too, and passes an unknown enum value through", async () => {
    const { fetch } = scriptedFetch([json(200, newerRun)]);
    const got = await client(fetch).getRun(RUN_ID);
    expect(got.status).toBe("paused");
    expect((got as unknown as { owner: string }).owner).toBe("team-a");
    expect((got.optimizer as unknown as { schedule: string }).schedule).toBe("cosine");
  });

  it("still fails on a missing required field or a known field of the wrong type", async () => {
    const { current_step: _, ...missing } = newerRun;
    const { fetch } = scriptedFetch([json(200, missing), json(200, { ...newerRun, lora_r: "8" })]);
    const c = client(fetch);
    await expect(c.getRun(RUN_ID)).rejects.toMatchObject({ name: "APIResponseValidationError", path: "current_step" });
    await expect(c.getRun(RUN_ID)).rejects.toBeInstanceOf(APIResponseValidationError);
  });

  it("keeps single-value `object` tags checked: another resource is not a newer run", async () => {
    const { fetch } = scriptedFetch([json(200, { ...run, object: "checkpoint" })]);
    await expect(client(fetch).getRun(RUN_ID)).rejects.toMatchObject({ name: "APIResponseValidationError", path: "object" });
  });

  it("reads a newer finish_reason in a sample and in a streamed chunk", async () => {
    const result = {
      object: "sample",
      run_id: RUN_ID,
      step: 0,
      samples: [{ index: 0, prompt_index: 0, text: "x", finish_reason: "content_filter", safety: { score: 0.1 } }],
      usage: { prompt_tokens: 1, completion_tokens: 1 },
    };
    const sse = `data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`;
    const { fetch } = scriptedFetch([json(200, result), new Response(sse, { status: 200, headers: { "content-type": "text/event-stream" } })]);
    const inference = client(fetch).inference(RUN_ID);
    const detailed = await inference.sampleDetailed(["x"]);
    expect(detailed.samples[0]?.finish_reason).toBe("content_filter");
    expect(detailed.samples[0]).toMatchObject({ safety: { score: 0.1 } });
    const chunks = [];
    for await (const piece of inference.streamSample("x")) chunks.push(piece);
    expect(chunks[0]?.finish_reason).toBe("content_filter");
  });

  it("reads an error body with an error type it does not know", async () => {
    const { fetch } = scriptedFetch([apiError(404, "gone_error", "run_archived", "archived")]);
    const error = await client(fetch)
      .getRun(RUN_ID)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: "run_archived", type: "gone_error" });
  });

  it("types the open enums as the known values or any string", () => {
    expectTypeOf<Run["status"]>().toEqualTypeOf<"active" | (string & {})>();
    expectTypeOf<"paused">().toMatchTypeOf<Run["status"]>();
  });
});

describe("strictResponseValidation: true", () => {
  it("rejects an enum value the SDK does not know and drops unknown fields", async () => {
    const { fetch } = scriptedFetch([json(200, newerRun), json(200, { ...run, owner: "team-a" })]);
    const c = client(fetch, true);
    await expect(c.getRun(RUN_ID)).rejects.toMatchObject({ name: "APIResponseValidationError", path: "status" });
    expect(Object.keys((await c.getRun(RUN_ID)).toJSON())).not.toContain("owner");
  });

  it("carries over to the training and inference clients made from the client", async () => {
    const sse = `data: ${JSON.stringify(chunk)}\n\n`;
    const { fetch } = scriptedFetch([new Response(sse, { status: 200, headers: { "content-type": "text/event-stream" } })]);
    const inference = client(fetch, true).inference(RUN_ID);
    const read = async () => {
      for await (const _ of inference.streamSample("x")) void _;
    };
    await expect(read()).rejects.toMatchObject({ name: "APIResponseValidationError", path: "finish_reason" });
  });
});

describe("tolerantSchema", () => {
  it("is derived once per generated schema", () => {
    expect(tolerantSchema(zRun)).toBe(tolerantSchema(zRun));
    expect(tolerantSchema(zRun)).not.toBe(zRun);
  });

  it("works on Zod Mini schemas as well as classic ones (zod's shared core)", () => {
    const mini = zm.object({ status: zm.enum(["active"]), steps: zm.array(zm.object({ n: zm.number() })), object: zm.enum(["run"]) });
    const reader = tolerantSchema(mini);
    const parsed = safeParse(reader, { object: "run", status: "paused", steps: [{ n: 1, extra: true }], more: 1 });
    expect(parsed).toMatchObject({ success: true, data: { status: "paused", steps: [{ n: 1, extra: true }], more: 1 } });
    expect(safeParse(reader, { object: "run", status: "paused", steps: [{ n: "1" }] }).success).toBe(false);
    expect(safeParse(mini, { object: "run", status: "paused", steps: [] }).success).toBe(false);
  });
});
