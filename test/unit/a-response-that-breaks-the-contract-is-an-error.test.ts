import { describe, expect, it } from "vitest";
import { APIResponseValidationError, SignalClient } from "../../src/index.js";
import { BASE, KEY, RUN_ID, fbResult, json, run, scriptedFetch } from "./helpers/scripted-fetch.js";

describe("response validation", () => {
  it("a missing field fails with the operation and field named", async () => {
    const { current_step: _, ...broken } = run;
    const { fetch } = scriptedFetch([json(200, broken)]);
    const error = await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).getRun(RUN_ID).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIResponseValidationError);
    expect(error).toMatchObject({ operation: "getRun", path: "current_step", requestId: "req_200" });
    expect((error as Error).message).toContain("getRun");
    expect((error as Error).message).toContain("current_step");
  });

  it("a mistyped field fails rather than surfacing later as undefined", async () => {
    const { fetch } = scriptedFetch([json(200, { ...fbResult, loss: "2.5" })]);
    const error = await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).forwardBackward(RUN_ID, [{ text: "x" }]).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "APIResponseValidationError", operation: "forwardBackward", path: "loss" });
  });

  it("a 2xx body that is not JSON fails", async () => {
    const { fetch } = scriptedFetch([new Response("<html>proxy</html>", { status: 200, headers: { "content-type": "text/html" } })]);
    const error = await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).getRun(RUN_ID).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIResponseValidationError);
  });

  it("unknown extra fields from a newer server are accepted", async () => {
    const { fetch } = scriptedFetch([json(200, { ...run, new_field: 1 })]);
    const result = await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).getRun(RUN_ID);
    expect(result.run_id).toBe(RUN_ID);
  });

  it("results carry the x-request-id as a non-enumerable _request_id", async () => {
    const { fetch } = scriptedFetch([json(200, fbResult, { "x-request-id": "req_abc" })]);
    const result = await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).forwardBackward(RUN_ID, [{ text: "x" }]);
    expect(result._request_id).toBe("req_abc");
    expect(Object.keys(result)).not.toContain("_request_id");
    expect(JSON.stringify(result)).not.toContain("req_abc");
  });
});
