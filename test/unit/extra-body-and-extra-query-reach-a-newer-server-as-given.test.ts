import { describe, expect, it } from "vitest";
import { SignalClient, ValidationError } from "../../src/index.js";
import { BASE, KEY, RUN_ID, json, run, scriptedFetch } from "./helpers/scripted-fetch.js";

const params = { base_model: "signal-byte-base", lora_r: 8, lora_alpha: 16, learning_rate: 5e-4 };
const client = (fetch: (request: Request) => Promise<Response>) => new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 0 });

describe("per-call escape hatches for fields a newer server accepts", () => {
  it("the SDK refuses a field it does not know before sending anything", async () => {
    const { fetch, seen } = scriptedFetch([json(201, run)]);
    await expect(client(fetch).createRun({ ...params, priority: "high" } as never)).rejects.toBeInstanceOf(ValidationError);
    expect(seen).toHaveLength(0);
  });

  it("extraBody is merged over the body the SDK builds and sent unchecked", async () => {
    const { fetch, seen } = scriptedFetch([json(201, run)]);
    await client(fetch).createRun(params, { extraBody: { priority: "high", lora_alpha: 32 } });
    expect(JSON.parse(seen[0]?.body ?? "")).toEqual({ ...params, lora_alpha: 32, priority: "high" });
  });

  it("extraBody gives a body to a POST that has none", async () => {
    const { fetch, seen } = scriptedFetch([json(200, { run_id: RUN_ID, step: 0, discarded_calls: 0 })]);
    await client(fetch)
      .zeroGrad(RUN_ID, { extraBody: { reason: "bad batch" } })
      .catch(() => undefined);
    expect(seen[0]?.body).toBe('{"reason":"bad batch"}');
    expect(seen[0]?.headers.get("content-type")).toBe("application/json");
  });

  it("extraQuery adds query parameters as given, over the SDK's own", async () => {
    const page = { object: "list", data: [], has_more: false, next_cursor: null };
    const { fetch, seen } = scriptedFetch([json(200, page)]);
    await client(fetch).listRuns({ limit: 5 }, { extraQuery: { status: "paused", limit: 7, skip: undefined } });
    const url = new URL(seen[0]?.url ?? "");
    expect(url.searchParams.get("status")).toBe("paused");
    expect(url.searchParams.get("limit")).toBe("7");
    expect(url.searchParams.has("skip")).toBe(false);
  });

  it("extraBody on a GET is a ValidationError, and nothing is sent", async () => {
    const { fetch, seen } = scriptedFetch([json(200, run)]);
    const error = await client(fetch)
      .getRun(RUN_ID, { extraBody: { x: 1 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toContain("getRun: extraBody");
    expect(seen).toHaveLength(0);
  });

  it("the retries of a call send the same extended body and the same Idempotency-Key", async () => {
    const { fetch, seen } = scriptedFetch([
      json(503, { error: { type: "overloaded_error", code: "overloaded", message: "busy", request_id: "r" } }, { "retry-after": "0" }),
      json(201, run),
    ]);
    const c = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 1 });
    await c.createRun(params, { extraBody: { priority: "high" } });
    expect(seen).toHaveLength(2);
    expect(seen[1]?.body).toBe(seen[0]?.body);
    expect(seen[1]?.headers.get("idempotency-key")).toBe(seen[0]?.headers.get("idempotency-key"));
  });
});
