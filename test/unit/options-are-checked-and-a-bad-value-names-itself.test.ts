import { afterEach, describe, expect, it } from "vitest";
import { AsyncInferenceClient, AsyncTrainingClient, SignalClient, SignalError } from "../../src/index.js";
import { BASE, json, KEY, run, RUN_ID, scriptedFetch } from "./helpers/scripted-fetch.js";

const saved = { ...process.env };
afterEach(() => {
  for (const name of ["SIGNAL_BASE_URL", "SIGNAL_LOG", "SIGNAL_UNSET_RETRIES"]) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

describe("client options are checked at construction", () => {
  it("maxRetries: NaN (Number of an unset env var) is a SignalError naming the option and the value", () => {
    expect(() => new SignalClient({ apiKey: KEY, maxRetries: Number(process.env.SIGNAL_UNSET_RETRIES) })).toThrow(
      new SignalError("maxRetries must be a non-negative integer, got NaN."),
    );
    expect(() => new SignalClient({ apiKey: KEY, maxRetries: -1 })).toThrow(/maxRetries must be a non-negative integer, got -1/);
    expect(() => new SignalClient({ apiKey: KEY, maxRetries: 1.5 })).toThrow(/got 1\.5/);
  });

  it("a timeout past the largest timer (30 days) or below 1 ms is refused, not left to overflow", () => {
    const thirtyDays = 30 * 24 * 3600 * 1000;
    expect(() => new SignalClient({ apiKey: KEY, timeout: thirtyDays })).toThrow(`timeout must be an integer from 1 to 2147483647, got ${thirtyDays}.`);
    expect(() => new SignalClient({ apiKey: KEY, timeout: 0 })).toThrow(/timeout must be/);
    expect(() => new SignalClient({ apiKey: KEY, timeout: 2_147_483_647 })).not.toThrow();
  });

  it("batchSize and concurrency are positive integers, on every way of making a client", () => {
    const client = new SignalClient({ apiKey: KEY });
    expect(() => client.inference(RUN_ID, { batchSize: 0 })).toThrow("batchSize must be an integer >= 1, got 0.");
    expect(() => client.inference(RUN_ID, { concurrency: 1.5 })).toThrow("concurrency must be an integer >= 1, got 1.5.");
    expect(() => new AsyncInferenceClient({ runId: RUN_ID, apiKey: KEY, concurrency: Number.NaN })).toThrow(/concurrency/);
    expect(() => client.training(RUN_ID, { timeout: -5 })).toThrow(/timeout/);
    expect(() => new AsyncTrainingClient({ runId: RUN_ID, apiKey: KEY, maxRetries: Number.POSITIVE_INFINITY })).toThrow(/maxRetries/);
    expect(() => client.withOptions({ maxRetries: Number.NaN })).toThrow(/maxRetries/);
  });

  it("the environment variables the SDK reads are checked too, naming the variable", () => {
    process.env.SIGNAL_BASE_URL = "localhost:7300";
    expect(() => new SignalClient({ apiKey: KEY })).toThrow('SIGNAL_BASE_URL must be an absolute http(s) URL, got "localhost:7300".');
    delete process.env.SIGNAL_BASE_URL;
    process.env.SIGNAL_LOG = "loud";
    expect(() => new SignalClient({ apiKey: KEY })).toThrow(/SIGNAL_LOG must be one of off, error, warn, info, debug; got "loud"/);
    expect(() => new SignalClient({ apiKey: KEY, baseUrl: "ftp://x" })).toThrow(/baseUrl must be an absolute http\(s\) URL/);
  });
});

describe("per-call options are checked", () => {
  it("a bad maxRetries or timeout of one call rejects it with a SignalError and sends nothing", async () => {
    const { fetch, seen } = scriptedFetch([json(200, run)]);
    const client = new SignalClient({ apiKey: KEY, baseUrl: BASE, fetch });
    await expect(client.getRun(RUN_ID, { maxRetries: Number.NaN })).rejects.toThrow("maxRetries must be a non-negative integer, got NaN.");
    await expect(client.getRun(RUN_ID, { timeout: 3e9 })).rejects.toThrow(/timeout must be an integer from 1 to 2147483647, got 3000000000/);
    await expect(client.inference(RUN_ID).batchSample(["a"], {}, { batchSize: 0 })).rejects.toThrow(/batchSize must be an integer >= 1, got 0/);
    expect(seen).toHaveLength(0);
  });
});
