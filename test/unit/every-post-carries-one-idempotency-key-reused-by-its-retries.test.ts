import { describe, expect, it, vi } from "vitest";
import { SignalClient } from "../../src/index.js";
import { BASE, KEY, RUN_ID, apiError, fbResult, json, scriptedFetch } from "./helpers/scripted-fetch.js";

const batch = [{ text: "hello" }];

describe("Idempotency-Key", () => {
  it("is the same on every retry of one call", async () => {
    const { fetch, seen } = scriptedFetch([
      apiError(503, "overloaded_error", "overloaded", "busy", { "retry-after": "0" }),
      new TypeError("fetch failed"),
      json(200, fbResult),
    ]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    vi.useFakeTimers();
    try {
      const call = client.training(RUN_ID).forwardBackward(batch);
      await vi.runAllTimersAsync();
      await call;
    } finally {
      vi.useRealTimers();
    }
    const keys = seen.map((s) => s.headers.get("idempotency-key"));
    expect(keys).toHaveLength(3);
    expect(keys[0]).toMatch(/^[\x21-\x7E]+$/);
    expect(new Set(keys).size).toBe(1);
    expect(seen.map((s) => s.body)).toEqual(Array(3).fill(JSON.stringify({ batch })));
  });

  it("differs between two calls", async () => {
    const { fetch, seen } = scriptedFetch([json(200, fbResult)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    await client.forwardBackward(RUN_ID, batch);
    await client.forwardBackward(RUN_ID, batch);
    expect(seen[0]!.headers.get("idempotency-key")).not.toBe(seen[1]!.headers.get("idempotency-key"));
  });

  it("is the caller's when given, and absent from GETs", async () => {
    const { fetch, seen } = scriptedFetch([json(200, fbResult)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    await client.forwardBackward(RUN_ID, batch, { idempotencyKey: "my-key-1" });
    expect(seen[0]!.headers.get("idempotency-key")).toBe("my-key-1");
    const gets = scriptedFetch([json(200, { status: "ok", version: "1" })]);
    await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: gets.fetch }).getHealth();
    expect(gets.seen[0]!.headers.has("idempotency-key")).toBe(false);
  });

  it("goes with the bearer token on every request", async () => {
    const { fetch, seen } = scriptedFetch([json(200, fbResult)]);
    await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).forwardBackward(RUN_ID, batch);
    expect(seen[0]!.headers.get("authorization")).toBe(`Bearer ${KEY}`);
    expect(seen[0]!.url).toBe(`${BASE}/v1/runs/${RUN_ID}/forward_backward`);
  });
});
