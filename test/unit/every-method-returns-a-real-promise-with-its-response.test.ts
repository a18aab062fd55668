import { describe, expect, it } from "vitest";
import { APIPromise, NotFoundError, SignalClient, ValidationError } from "../../src/index.js";
import { apiError, BASE, json, KEY, run, RUN_ID, sampleResponse, scriptedFetch } from "./helpers/scripted-fetch.js";

describe("every SDK method returns an APIPromise", () => {
  it("that is a real Promise: instanceof, .catch and .finally work", async () => {
    const { fetch } = scriptedFetch([apiError(404, "not_found_error", "run_not_found")]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 0 });
    const call = client.getRun(RUN_ID);
    expect(call).toBeInstanceOf(Promise);
    expect(call).toBeInstanceOf(APIPromise);
    let finished = false;
    const caught = await call.catch((error: unknown) => error).finally(() => (finished = true));
    expect(caught).toBeInstanceOf(NotFoundError);
    expect(finished).toBe(true);
  });

  it("withResponse() gives the data, the HTTP response and the request id", async () => {
    const { fetch } = scriptedFetch([json(200, run, { "x-request-id": "req_get_1" })]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { data, response, requestId } = await client.getRun(RUN_ID).withResponse();
    expect(data.run_id).toBe(RUN_ID);
    expect(data._request_id).toBe("req_get_1");
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(200);
    expect(requestId).toBe("req_get_1");
  });

  it("asResponse() gives the raw response, whose headers (idempotent-replayed) are readable", async () => {
    const { fetch } = scriptedFetch([sampleResponse(["a"])]);
    const replayed = (async () => {
      const response = await fetch(new Request(BASE));
      const headers = new Headers(response.headers);
      headers.set("idempotent-replayed", "true");
      return new Response(await response.text(), { status: 200, headers });
    })();
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch: () => replayed });
    const response = await client.sample(RUN_ID, ["a"], {}, { idempotencyKey: "k1" }).asResponse();
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    expect(((await response.json()) as { samples: unknown[] }).samples).toHaveLength(1);
  });

  it("a transformed result (sample texts, a SignalRun) keeps withResponse()", async () => {
    const { fetch } = scriptedFetch([sampleResponse(["a", "b"])]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { data, response } = await client.sample(RUN_ID, ["a", "b"]).withResponse();
    expect([...data]).toEqual(["out:a", "out:b"]);
    expect(data._request_id).toBe("req_200");
    expect(response.headers.get("x-request-id")).toBe("req_200");
  });

  it("bad input rejects the promise (never a synchronous throw) and sends nothing", async () => {
    const { fetch, seen } = scriptedFetch([json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    let call: Promise<unknown> | undefined;
    expect(() => (call = client.getRun("not a run id"))).not.toThrow();
    await expect(call).rejects.toBeInstanceOf(ValidationError);
    await expect(client.getRun("x y").withResponse()).rejects.toBeInstanceOf(ValidationError);
    expect(seen).toHaveLength(0);
  });

  it("Promise.all and await work over APIPromises", async () => {
    const { fetch } = scriptedFetch([json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const [a, b] = await Promise.all([client.getRun(RUN_ID), client.getRun(RUN_ID)]);
    expect(a.run_id).toBe(RUN_ID);
    expect(b.current_step).toBe(0);
  });
});
