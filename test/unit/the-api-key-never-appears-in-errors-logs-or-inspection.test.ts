import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { AsyncInferenceClient, AsyncTrainingClient, SignalClient, SignalError } from "../../src/index.js";
import { BASE, KEY, RUN_ID, apiError, json, run, scriptedFetch } from "./helpers/scripted-fetch.js";

function everythingAbout(error: unknown): string {
  const e = error as Error;
  return [String(e), e.message, e.stack, inspect(e, { depth: 5 }), JSON.stringify(e), String(e.cause)].join("\n");
}

describe("the API key", () => {
  it("is not in an APIError even when the server echoes it", async () => {
    const { fetch } = scriptedFetch([apiError(401, "authentication_error", "invalid_api_key", `key ${KEY} is not valid`)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const error = await client.getRun(RUN_ID).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SignalError);
    expect(everythingAbout(error)).not.toContain(KEY);
    expect((error as Error).message).toContain("is not valid");
  });

  it("is not in a connection error whose cause mentions it", async () => {
    const { fetch } = scriptedFetch([new TypeError(`connect failed for Bearer ${KEY}`)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, maxRetries: 0 });
    const error = await client.getRun(RUN_ID).catch((e: unknown) => e);
    expect((error as Error).message).not.toContain(KEY);
  });

  it("is not in any debug log line", async () => {
    const lines: string[] = [];
    const logger = { debug: (message: string, fields?: Record<string, unknown>) => lines.push(message + JSON.stringify(fields)) };
    const { fetch } = scriptedFetch([apiError(500, "api_error", "internal_error", `oops ${KEY}`), json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch, logger, maxRetries: 1 });
    await client
      .training(RUN_ID, { maxRetries: 1 })
      .forwardBackward([{ text: "x" }], { maxRetries: 0 })
      .catch(() => undefined);
    await client.getRun(RUN_ID, { timeout: 1000 }).catch(() => undefined);
    expect(lines.length).toBeGreaterThan(3);
    expect(lines.join("\n")).not.toContain(KEY);
    expect(lines.join("\n")).toContain("getRun");
  });

  it("is not in JSON.stringify or util.inspect of any client", () => {
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE });
    const children = [
      client,
      client.training(RUN_ID),
      client.inference(RUN_ID, { step: 1 }),
      new AsyncTrainingClient({ runId: RUN_ID, apiKey: KEY, baseUrl: BASE }),
      new AsyncInferenceClient({ runId: RUN_ID, apiKey: KEY, baseUrl: BASE }),
    ];
    for (const c of children) {
      expect(JSON.stringify(c)).not.toContain(KEY);
      expect(inspect(c, { depth: 10, showHidden: true })).not.toContain(KEY);
      expect(String(c)).not.toContain(KEY);
    }
    expect(client.apiKey).toBe(KEY); // still reachable on purpose, for building sibling clients
  });

  it("is not in a SignalRun's inspection", async () => {
    const { fetch } = scriptedFetch([json(201, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    const created = await client.createRun({ base_model: "signal-byte-base" });
    expect(inspect(created, { depth: 10, showHidden: true })).not.toContain(KEY);
    expect(JSON.parse(JSON.stringify(created))).toEqual(run);
  });

  it("missing everywhere is a clear error before any request", () => {
    const saved = process.env.SIGNAL_API_KEY;
    delete process.env.SIGNAL_API_KEY;
    try {
      expect(() => new SignalClient({ baseUrl: BASE })).toThrow(/SIGNAL_API_KEY/);
    } finally {
      if (saved !== undefined) process.env.SIGNAL_API_KEY = saved;
    }
  });

  it("and base URL come from SIGNAL_API_KEY / SIGNAL_BASE_URL when not given", async () => {
    const saved = { key: process.env.SIGNAL_API_KEY, url: process.env.SIGNAL_BASE_URL };
    process.env.SIGNAL_API_KEY = KEY;
    process.env.SIGNAL_BASE_URL = "http://from-env.test";
    try {
      const { fetch, seen } = scriptedFetch([json(200, run)]);
      await new SignalClient({ fetch }).getRun(RUN_ID);
      expect(seen[0]!.url).toBe(`http://from-env.test/v1/runs/${RUN_ID}`);
      expect(seen[0]!.headers.get("authorization")).toBe(`Bearer ${KEY}`);
      delete process.env.SIGNAL_BASE_URL;
      expect(new SignalClient({ fetch }).baseUrl).toBe("http://127.0.0.1:7300");
    } finally {
      for (const [name, value] of [
        ["SIGNAL_API_KEY", saved.key],
        ["SIGNAL_BASE_URL", saved.url],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
