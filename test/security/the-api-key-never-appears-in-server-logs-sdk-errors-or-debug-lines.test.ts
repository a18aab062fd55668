import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { AsyncInferenceClient, AsyncTrainingClient, SignalClient } from "../../src/index.js";
import { QA, call, useTestServer } from "../server/helpers.js";
import { rawRequest } from "./raw-http.js";

// Distinctive, so a grep cannot match anything else.
const KEY = "sk-canary-5d1f0b9e7a3c4e21b8d6";
const WRONG = "sk-canary-wrong-88c2e4a6f1d3";
const SECRETS = [KEY, WRONG];

const serverLog: string[] = [];
/** Everything written to stdout and stderr (and console) while the tests run. */
const output: string[] = [];
const restore: (() => void)[] = [];

beforeAll(async () => {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      output.push(String(chunk));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => {
      stream.write = write;
    });
  }
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    const spy = vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      output.push(args.map((a) => (typeof a === "string" ? a : inspect(a, { depth: 10 }))).join(" "));
    });
    restore.push(() => spy.mockRestore());
  }
});
// After the capture starts and before it stops: hooks run in order, and afterAll hooks in reverse.
const fixture = useTestServer({ apiKeys: [KEY, "sk-test-b"], log: (line) => serverLog.push(line) });
afterAll(() => {
  for (const undo of restore) undo();
});

/** Every way an error or object can end up in a log: string, message, stack, inspect, JSON, causes. */
function everythingAbout(value: unknown): string {
  const parts: string[] = [inspect(value, { depth: 10, showHidden: true }), safeJson(value), String(value)];
  let e: unknown = value;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) parts.push(e.message, e.stack ?? "", safeJson(e));
  return parts.join("\n");
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    return "";
  }
}

function expectNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) expect(text.includes(secret), `${where} contains a key`).toBe(false);
}

describe("the API key never appears", () => {
  const debugLines: string[] = [];
  const errors: unknown[] = [];

  it("in the SDK's debug lines, errors or inspection while it works against the server", async () => {
    const logger = { debug: (message: string, fields?: Record<string, unknown>) => debugLines.push(`${message} ${safeJson(fields)}`) };
    const client = new SignalClient({ strictResponseValidation: true, apiKey: KEY, baseUrl: fixture.server.url, logger, maxRetries: 0 });
    const run = await client.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02 });
    await run.trainStep(QA);
    await client.saveState(run.run_id, { mode: "state" });
    const inference = client.inference(run.run_id, { step: 1 });
    await inference.sample(["Q: red?\nA:"], { max_tokens: 3, seed: 1 });
    for await (const chunk of inference.streamSample("Q: red?\nA:", { max_tokens: 3, seed: 1 })) expect(chunk.delta).toBeTypeOf("string");
    await inference.embeddings(["a"]);
    await client.downloadCheckpoint(run.run_id, 1);
    for await (const listed of client.listRuns({ limit: 1 })) expect(listed.run_id).toMatch(/^run_/);
    const training = client.training(run.run_id);
    await training.trainBatch(QA);
    const standalone = [
      new AsyncTrainingClient({ strictResponseValidation: true, runId: run.run_id, apiKey: KEY, baseUrl: fixture.server.url, logger }),
      new AsyncInferenceClient({ strictResponseValidation: true, runId: run.run_id, apiKey: KEY, baseUrl: fixture.server.url, logger }),
    ];
    for (const value of [client, run, inference, training, ...standalone]) expectNoSecret(everythingAbout(value), `inspection of ${value.constructor.name}`);

    // Failures of every kind, including a server message that echoes what the caller sent.
    const fail = (p: Promise<unknown>) =>
      p.then(
        () => expect.fail("expected a failure"),
        (e: unknown) => errors.push(e),
      );
    await fail(client.getRun("run_0000000000000000"));
    await fail(client.sample(run.run_id, ["a"], { step: 999 }));
    await fail(client.createRun({ base_model: KEY }));
    await fail(client.createRun({ base_model: "signal-byte-tiny", lora_r: 999 }));
    await fail(client.optimStep(run.run_id));
    await fail(client.getRun("../etc/passwd"));
    await fail(new SignalClient({ strictResponseValidation: true, apiKey: WRONG, baseUrl: fixture.server.url, logger, maxRetries: 0 }).listModels());
    await fail(new SignalClient({ strictResponseValidation: true, apiKey: KEY, baseUrl: "http://127.0.0.1:9", logger, maxRetries: 0 }).listModels());
    await fail(client.sample(run.run_id, ["a"], { max_tokens: 200 }, { timeout: 1 }));
    await fail(training.trainBatch([{ text: "x".repeat(400) }]));
    expect(errors).toHaveLength(10);
    // The server echoed the unknown model name; the SDK masked it.
    expect((errors[2] as Error).message).toContain(`No base model 'sk-***${KEY.slice(-4)}'`);
    for (const error of errors) expectNoSecret(everythingAbout(error), `error ${(error as Error).name}`);
    expect(debugLines.length).toBeGreaterThan(10);
    expectNoSecret(debugLines.join("\n"), "a debug line");
    await client.close();
  });

  it("in the stderr lines of SIGNAL_LOG=debug", async () => {
    const saved = process.env.SIGNAL_LOG;
    process.env.SIGNAL_LOG = "debug";
    const before = output.length;
    try {
      const client = new SignalClient({ strictResponseValidation: true, apiKey: KEY, baseUrl: fixture.server.url, maxRetries: 0 });
      await client.listModels();
      await client.getRun("run_0000000000000000").catch(() => undefined);
      await new SignalClient({ strictResponseValidation: true, apiKey: WRONG, baseUrl: fixture.server.url, maxRetries: 0 }).listModels().catch(() => undefined);
    } finally {
      if (saved === undefined) delete process.env.SIGNAL_LOG;
      else process.env.SIGNAL_LOG = saved;
    }
    const lines = output.slice(before).join("\n");
    expect(lines).toContain("[signal]");
    expectNoSecret(lines, "a SIGNAL_LOG=debug line");
  });

  it("in the server's log, its stdout and stderr, or its data directory, whatever the requests carried", async () => {
    const head = (auth: string) => `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: ${auth}\r\n\r\n`;
    for (const auth of [
      `Bearer ${KEY} extra`,
      `Basic ${KEY}`,
      `Bearer ${WRONG}`,
      `Bearer ${KEY}\rX: 1`,
      `Bearer ${KEY}\u0000`,
      `Bearer ${KEY}${"x".repeat(20_000)}`,
    ]) {
      await rawRequest(fixture.server.url, head(auth));
    }
    await call({ url: fixture.server.url, key: KEY }, "GET", `/v1/runs?after=${KEY}`);
    await call({ url: fixture.server.url, key: KEY }, "POST", "/v1/runs", {
      body: { base_model: "signal-byte-tiny", metadata: { note: "no key here" } },
      headers: { "idempotency-key": "k-1" },
    });
    await call({ url: fixture.server.url, key: KEY }, "POST", "/v1/runs", { body: `{"base_model": "${KEY}",` });
    expect(serverLog.length).toBeGreaterThan(10);
    expectNoSecret(serverLog.join("\n"), "a server log line");
    expectNoSecret(output.join("\n"), "stdout or stderr");
    for (const name of await readdir(fixture.server.dataDir, { recursive: true })) {
      const file = path.join(fixture.server.dataDir, name);
      const bytes = await readFile(file).catch(() => undefined);
      if (bytes) expectNoSecret(bytes.toString("latin1"), `data file ${name}`);
    }
  });
});
