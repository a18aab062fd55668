import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { NotFoundError, RateLimitError, SignalClient } from "../../src/index.js";
import { type MockServer, MockServerError, createMockServer } from "../../src/testing/index.js";

let mock: MockServer;
let client: SignalClient;
beforeAll(async () => {
  mock = await createMockServer();
  client = new SignalClient({ baseUrl: mock.url, apiKey: mock.apiKey, maxRetries: 0 });
});
afterEach(() => mock.reset());
afterAll(async () => {
  await client?.close();
  await mock?.close();
});

const RUN = "run_8f3a2c1d9e7b4a60";

describe("createMockServer", () => {
  it("listens on a loopback port and serves the spec's examples for every call", async () => {
    expect(mock.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(mock.specPath).toMatch(/openapi\/signal\.yaml$/);
    const run = await client.getRun(RUN);
    expect(run.run_id).toBe(RUN);
    expect((await client.listModels()).data.length).toBeGreaterThan(0);
  });

  it("answers an undeclared path with a 404 in the error schema", async () => {
    const response = await fetch(`${mock.url}/v1/nothing-here`, { headers: { authorization: `Bearer ${mock.apiKey}` } });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { type: "not_found_error", code: "route_not_found" } });
  });

  it("refuses any key but its own with the spec's 401 body", async () => {
    const response = await fetch(`${mock.url}/v1/runs/${RUN}`, { headers: { authorization: "Bearer sk-someone-else" } });
    expect(response.status).toBe(401);
    const body = await response.json();
    expect(body).toMatchObject({ error: { type: "authentication_error", code: "invalid_api_key" } });
    expect(body.error.request_id).toBe(response.headers.get("x-request-id"));
  });

  it("answers an invalid request with 422 validation_error naming the field, as the real service does", async () => {
    const response = await fetch(`${mock.url}/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${mock.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ base_model: "signal-byte-base", lora_r: 0 }),
    });
    expect(response.status).toBe(422);
    const body = await response.json();
    expect(body.error).toMatchObject({ type: "invalid_request_error", code: "validation_error", param: "lora_r" });
    expect(body.error.message).toMatch(/^lora_r: /);
    expect(response.headers.get("sl-violations")).toBeNull();
  });

  it("names a missing required field by its path", async () => {
    const response = await fetch(`${mock.url}/v1/runs/${RUN}/forward_backward`, {
      method: "POST",
      headers: { authorization: `Bearer ${mock.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({}),
    });
    expect(response.status).toBe(422);
    expect((await response.json()).error).toMatchObject({ param: "batch", message: expect.stringContaining("batch: is required") });
  });
});

describe("respondWith", () => {
  it("answers the next `times` matching calls with the status, a schema-valid body and Retry-After, then the example again", async () => {
    mock.respondWith("sample", { status: 429, retryAfter: 3, times: 2 });
    for (let i = 0; i < 2; i++) {
      const error = await client.sample(RUN, ["hi"]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RateLimitError);
      expect((error as RateLimitError).headers.get("retry-after")).toBe("3");
      expect((error as RateLimitError).code).toBe("rate_limited");
    }
    expect((await client.sample(RUN, ["hi"])).length).toBeGreaterThan(0);
    expect(mock.requests("sample").map((r) => [r.status, r.scenario])).toEqual([
      [429, true],
      [429, true],
      [200, false],
    ]);
  });

  it("keeps answering until reset() when times is omitted, and serves scenarios first registered first", async () => {
    mock.respondWith("getRun", { status: 503, times: 1 });
    mock.respondWith("getRun", { status: 404 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        await client.getRun(RUN).then(
          () => 200,
          (e: unknown) => (e as { status: number }).status,
        ),
      );
    expect(statuses).toEqual([503, 404, 404]);
    mock.reset();
    expect((await client.getRun(RUN)).run_id).toBe(RUN);
    expect(mock.requests()).toHaveLength(1);
  });

  it("takes the SDK's method names as well as operationIds: saveState, trainBatch, and updateRun of the spec", async () => {
    mock.respondWith("saveState", { status: 404, code: "run_not_found", times: 1 });
    await expect(client.saveState(RUN, { mode: "adapter" })).rejects.toBeInstanceOf(NotFoundError);
    mock.respondWith("trainBatch", { status: 429, retryAfter: 3, times: 1 });
    const limited = (await client.trainBatch(RUN, [{ text: "a" }]).catch((e: unknown) => e)) as RateLimitError;
    expect(limited).toBeInstanceOf(RateLimitError);
    expect(limited.message).toContain("retry after 3 seconds");
    expect(mock.requests("saveState").map((r) => r.operationId)).toEqual(["createCheckpoint"]);
    expect(mock.requests("createCheckpoint")).toHaveLength(1);
    const renamed = await client.updateRun(RUN, { name: "support-bot-v2" });
    expect(renamed.run_id).toBe(RUN);
    expect(mock.requests("updateRun")[0]?.body).toEqual({ name: "support-bot-v2" });
  });

  it("applies code, message and param to the spec's example, and a whole body when given", async () => {
    mock.respondWith("getRun", { status: 404, code: "run_not_found", message: "No run run_x1234567 for this API key.", param: "run_id", times: 1 });
    const error = (await client.getRun("run_x1234567").catch((e: unknown) => e)) as NotFoundError;
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: "run_not_found", param: "run_id", message: expect.stringContaining("No run run_x1234567") });

    const body = { error: { type: "not_found_error", code: "run_not_found", message: "gone", request_id: "req_0123456789abcdef" } };
    mock.respondWith("getRun", { status: 404, body, times: 1 });
    const response = await fetch(`${mock.url}/v1/runs/${RUN}`, { headers: { authorization: `Bearer ${mock.apiKey}` } });
    expect(await response.json()).toEqual(body);
  });

  it("can script a success body, checked against the operation's schema", async () => {
    const run = await client.getRun(RUN);
    mock.respondWith("getRun", { status: 200, body: { ...run.toJSON(), current_step: 7, status: "active" }, times: 1 });
    expect((await client.getRun(RUN)).current_step).toBe(7);
    expect(() => mock.respondWith("getRun", { status: 200, body: { ...run.toJSON(), current_step: "seven" } })).toThrow(/current_step/);
  });

  it("throws at once for an unknown operationId or an undeclared status, naming the allowed ones", () => {
    expect(() => mock.respondWith("getRunz" as never, { status: 404 } as never)).toThrow(MockServerError);
    expect(() => mock.respondWith("getRunz" as never, { status: 404 } as never)).toThrow(
      /unknown operationId 'getRunz'.*getRun, updateRun, deleteRun.*SDK method names such as trainBatch, saveState/,
    );
    // @ts-expect-error getHealth declares no 404 in the spec
    expect(() => mock.respondWith("getHealth", { status: 404 })).toThrow("getHealth cannot answer 404; the spec declares 200, 429, 500, 503 for it.");
    expect(() => mock.respondWith("getRun", { status: 404, times: 0 })).toThrow(/times must be a positive integer/);
    expect(() => mock.respondWith("getRun", { status: 404, retryAfter: 1 })).toThrow(/no Retry-After header for getRun 404/);
    expect(() => mock.respondWith("getRun", { status: 404, body: { error: { type: "nope" } } })).toThrow(/breaks the spec's schema/);
  });

  it("types the status by the operation's declared responses", () => {
    expectTypeOf(mock.respondWith<"getHealth">)
      .parameter(1)
      .toHaveProperty("status")
      .toEqualTypeOf<200 | 429 | 500 | 503>();
  });
});

describe("requests()", () => {
  it("records what the app sent, in order, with the key redacted", async () => {
    await client.createRun({ base_model: "signal-byte-base", lora_r: 4 }, { idempotencyKey: "key-1" });
    await client.listRuns({ limit: 2 });
    const [create, list] = mock.requests();
    expect(create).toMatchObject({
      operationId: "createRun",
      method: "POST",
      path: "/v1/runs",
      status: 201,
      body: { base_model: "signal-byte-base", lora_r: 4 },
      headers: { "idempotency-key": "key-1", authorization: "Bearer [redacted]" },
    });
    expect(list).toMatchObject({ operationId: "listRuns", method: "GET", query: { limit: "2" }, status: 200 });
    expect(JSON.stringify(mock.requests())).not.toContain(mock.apiKey);
  });

  it("returns copies, so a test cannot change what was recorded", async () => {
    await client.getHealth();
    const [first] = mock.requests();
    first!.status = 999;
    mock.requests().length = 0;
    expect(mock.requests().map((r) => r.status)).toEqual([200]);
  });
});
