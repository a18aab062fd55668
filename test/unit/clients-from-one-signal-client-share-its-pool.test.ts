import { describe, expect, it, vi } from "vitest";
import { APIConnectionError, AsyncInferenceClient, SignalClient } from "../../src/index.js";
import { BASE, KEY, RUN_ID, json, run, sampleResponse, scriptedFetch } from "./helpers/scripted-fetch.js";

/** A fetch whose requests hang until aborted, counting what it saw. */
function hangingFetch() {
  return scriptedFetch([
    (request) => new Promise<Response>((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason), { once: true })),
  ]);
}

describe("pool sharing", () => {
  it("children send through the parent's fetch", async () => {
    const { fetch, seen } = scriptedFetch([sampleResponse(["a"])]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    await client.inference(RUN_ID).sample(["a"]);
    await client
      .training(RUN_ID)
      .zeroGrad()
      .catch(() => undefined);
    expect(seen).toHaveLength(2);
  });

  it("closing a child leaves the parent and its siblings working", async () => {
    const { fetch } = scriptedFetch([json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const a = client.inference(RUN_ID);
    await a.close();
    await client.training(RUN_ID).close();
    await expect(a.sample(["x"])).rejects.toThrow(/closed/);
    await expect(client.getRun(RUN_ID)).resolves.toMatchObject({ run_id: RUN_ID });
  });

  it("closing the parent aborts its children's requests in flight and refuses new ones", async () => {
    const { fetch } = hangingFetch();
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const pending = client.inference(RUN_ID).sample(["a"]);
    await new Promise((r) => setImmediate(r));
    await client.close();
    await expect(pending).rejects.toBeInstanceOf(APIConnectionError);
    await expect(client.training(RUN_ID).zeroGrad()).rejects.toThrow(/closed/);
  });

  it("a standalone client owns its pool: await using aborts what it left in flight", async () => {
    const { fetch } = hangingFetch();
    let pending: Promise<unknown> | undefined;
    {
      await using inference = new AsyncInferenceClient({ runId: RUN_ID, apiKey: KEY, baseUrl: BASE, fetch });
      pending = inference.sample(["a"]).catch((e: unknown) => e);
      await new Promise((r) => setImmediate(r));
    }
    expect(await pending).toBeInstanceOf(APIConnectionError);
  });
});

describe("debug logging", () => {
  it("SIGNAL_LOG=debug logs requests to stderr without the key", async () => {
    const spy = vi.spyOn(console, "error").mockImplementation(() => undefined);
    process.env.SIGNAL_LOG = "debug";
    let text = "";
    try {
      const { fetch } = scriptedFetch([json(200, run)]);
      await new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).getRun(RUN_ID);
      text = spy.mock.calls.map((call) => call.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")).join("\n");
    } finally {
      delete process.env.SIGNAL_LOG;
      spy.mockRestore();
    }
    expect(text).toContain("getRun request");
    expect(text).toContain("req_200");
    expect(text).not.toContain(KEY);
  });
});

describe("listRuns", () => {
  it("follows next_cursor across pages when iterated, one request per page", async () => {
    const page = (ids: string[], next: string | null) =>
      json(200, { object: "list", data: ids.map((id) => ({ ...run, run_id: id })), has_more: next !== null, next_cursor: next });
    const { fetch, seen } = scriptedFetch([page(["run_aaaaaaaa1", "run_aaaaaaaa2"], "c1"), page(["run_aaaaaaaa3"], null)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const ids: string[] = [];
    for await (const r of client.listRuns({ limit: 2 })) ids.push(r.run_id);
    expect(ids).toEqual(["run_aaaaaaaa1", "run_aaaaaaaa2", "run_aaaaaaaa3"]);
    expect(seen.map((s) => new URL(s.url).search)).toEqual(["?limit=2", "?limit=2&after=c1"]);
  });
});

describe("embeddings", () => {
  it("returns one vector per input in input order", async () => {
    const body = {
      object: "list",
      run_id: RUN_ID,
      step: 3,
      dimensions: 2,
      data: [
        { object: "embedding", index: 1, embedding: [3, 4] },
        { object: "embedding", index: 0, embedding: [1, 2] },
      ],
    };
    const { fetch, seen } = scriptedFetch([json(200, body)]);
    const inference = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch }).inference(RUN_ID, { step: 3 });
    expect(await inference.embeddings(["a", "b"])).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(JSON.parse(seen[0]!.body)).toEqual({ inputs: ["a", "b"], step: 3 });
  });
});
