import { afterEach, describe, expect, it } from "vitest";
import { SignalClient } from "../../src/index.js";
import { apiError, BASE, json, KEY, run, RUN_ID } from "./helpers/scripted-fetch.js";

const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
afterEach(() => {
  process.off("warning", onWarning);
  warnings.length = 0;
});

describe("many calls waiting out a Retry-After at once", () => {
  // Every waiting call used to listen on the pool's one "closed" AbortSignal: past 10 of them
  // Node printed MaxListenersExceededWarning ("possible EventTarget memory leak") to the user.
  it("print no listener-leak warning and all succeed", async () => {
    process.on("warning", onWarning);
    const answered = new Set<string>();
    const fetch = async (request: Request): Promise<Response> => {
      const id = request.headers.get("x-test-call") ?? "";
      if (!answered.has(id)) {
        answered.add(id);
        return apiError(503, "overloaded_error", "overloaded", "busy", { "retry-after-ms": "30" });
      }
      return json(200, run);
    };
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 2 });
    const calls = Array.from({ length: 40 }, (_, i) => client.getRun(RUN_ID, { headers: { "x-test-call": String(i) } }));
    const results = await Promise.allSettled(calls);
    await new Promise((resolve) => setImmediate(resolve));
    expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(answered.size).toBe(40);
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message)).toEqual([]);
  });
});
