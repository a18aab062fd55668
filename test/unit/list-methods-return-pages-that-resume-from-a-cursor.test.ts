import { describe, expect, it } from "vitest";
import { APIPromise, AuthenticationError, Page, SignalClient, SignalError } from "../../src/index.js";
import { apiError, BASE, json, KEY, run, scriptedFetch } from "./helpers/scripted-fetch.js";

/** A listRuns server of 5 runs, pages of `limit`, the cursor being the last run id of a page. */
function listServer() {
  const runs = Array.from({ length: 5 }, (_, i) => ({ ...run, run_id: `run_${String(i).padStart(16, "0")}` }));
  return scriptedFetch([
    (_request, seen) => {
      const url = new URL(seen.url);
      const limit = Number(url.searchParams.get("limit") ?? 2);
      const after = url.searchParams.get("after");
      const start = after === null ? 0 : runs.findIndex((r) => r.run_id === after) + 1;
      const data = runs.slice(start, start + limit);
      const hasMore = start + limit < runs.length;
      return json(200, { object: "list", data, has_more: hasMore, next_cursor: hasMore ? (data.at(-1)?.run_id ?? null) : null });
    },
  ]);
}

describe("list methods", () => {
  it("return a PagePromise that is a real Promise (catch works)", async () => {
    const { fetch } = scriptedFetch([apiError(401, "authentication_error", "invalid_api_key")]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 0 });
    const list = client.listRuns();
    expect(list).toBeInstanceOf(Promise);
    expect(list).toBeInstanceOf(APIPromise);
    await expect(list.catch((error: unknown) => error)).resolves.toBeInstanceOf(AuthenticationError);
  });

  it("resolve to a Page with data, hasNextPage() and getNextPage()", async () => {
    const { fetch } = listServer();
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const first = await client.listRuns({ limit: 2 });
    expect(first).toBeInstanceOf(Page);
    expect(first.data.map((r) => r.run_id)).toEqual(["run_0000000000000000", "run_0000000000000001"]);
    expect(first.hasNextPage()).toBe(true);
    expect(first._request_id).toBe("req_200");
    const second = await first.getNextPage();
    expect(second.data.map((r) => r.run_id)).toEqual(["run_0000000000000002", "run_0000000000000003"]);
    const last = await second.getNextPage();
    expect(last.hasNextPage()).toBe(false);
    expect(() => last.getNextPage()).toThrow(SignalError);
    expect(JSON.parse(JSON.stringify(last))).toEqual({
      object: "list",
      data: [expect.objectContaining({ run_id: "run_0000000000000004" })],
      has_more: false,
      next_cursor: null,
    });
  });

  it("iterate every item across pages with for await, and pages with iterPages()", async () => {
    const { fetch, seen } = listServer();
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const ids: string[] = [];
    for await (const r of client.listRuns({ limit: 2 })) ids.push(r.run_id);
    expect(ids).toHaveLength(5);
    expect(seen).toHaveLength(3);
    const sizes: number[] = [];
    for await (const page of (await client.listRuns({ limit: 2 })).iterPages()) sizes.push(page.data.length);
    expect(sizes).toEqual([2, 2, 1]);
  });

  it("resume from a saved cursor with `after`", async () => {
    const { fetch, seen } = listServer();
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const cursor = (await client.listRuns({ limit: 2 })).next_cursor as string;
    const resumed = await client.listRuns({ limit: 2, after: cursor });
    expect(new URL(seen[1]!.url).searchParams.get("after")).toBe(cursor);
    expect(resumed.data[0]?.run_id).toBe("run_0000000000000002");
    const rest: string[] = [];
    for await (const r of client.listRuns({ after: cursor, limit: 10 })) rest.push(r.run_id);
    expect(rest).toEqual(["run_0000000000000002", "run_0000000000000003", "run_0000000000000004"]);
  });

  it("withResponse() on a list gives the first page's response", async () => {
    const { fetch } = listServer();
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const { data, response } = await client.listRuns({ limit: 2 }).withResponse();
    expect(data.hasNextPage()).toBe(true);
    expect(response.status).toBe(200);
  });
});
