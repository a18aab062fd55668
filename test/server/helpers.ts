import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { type ClientOptions, SignalClient } from "../../src/index.js";
import type { z } from "zod/mini";
import { checkAgainst, summarizeIssues } from "../../src/internal/validate.js";
import { type Engine, createEngine } from "../../src/server/engine/index.js";
import type { EngineError, SampleResult } from "../../src/server/engine/types.js";
import { type RunningServer, type ServerOptions, startServer } from "../../src/server/index.js";

/** A server on a loopback port with its own temporary data directory. */
export interface TestServer extends RunningServer {
  dataDir: string;
  key: string;
  /** Stops the server and removes its data directory. */
  dispose(): Promise<void>;
}

/** One engine per test file (one worker: test files run in parallel on two cores). */
export function testEngine(): Promise<Engine> {
  return createEngine({ workers: 1 });
}

/** Starts a server on port 0 with a fresh data directory (or the given one) and key `sk-test-a`. */
export async function startTestServer(engine: Engine, options: Partial<ServerOptions> & { dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "signal-server-")));
  const server = await startServer({ port: 0, apiKeys: ["sk-test-a", "sk-test-b"], log: false, engine, ...options, dataDir });
  return {
    ...server,
    dataDir,
    key: "sk-test-a",
    dispose: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * `engine` with every sample call's outcome recorded, in call order, so a test can see generation
 * stop (an EngineError `aborted`) or finish.
 */
export function watchSamples(engine: Engine): { engine: Engine; outcomes: Promise<SampleResult | EngineError>[] } {
  const outcomes: Promise<SampleResult | EngineError>[] = [];
  const watched: Engine = Object.create(engine);
  watched.sample = (...args) => {
    const outcome = engine.sample(...args);
    outcomes.push(outcome.catch((e: EngineError) => e));
    return outcome;
  };
  return { engine: watched, outcomes };
}

/** The engine and server of a test file, set up by `useTestServer`. */
export interface TestServerFixture {
  readonly engine: Engine;
  readonly server: TestServer;
}

/**
 * Registers a `beforeAll` that creates a test engine and starts a test server on it (with `options`),
 * and an `afterAll` that disposes of the server and closes the engine. Call it at the top level of a
 * test file; hooks registered after it run after its `beforeAll` and before its `afterAll`.
 */
export function useTestServer(options: Parameters<typeof startTestServer>[1] = {}): TestServerFixture {
  let engine: Engine | undefined;
  let server: TestServer | undefined;
  beforeAll(async () => {
    engine = await testEngine();
    server = await startTestServer(engine, options);
  });
  afterAll(async () => {
    await server?.dispose();
    await engine?.close();
  });
  return {
    get engine() {
      if (!engine) throw new Error("useTestServer: the engine is not ready (used before beforeAll ran, or its set-up failed)");
      return engine;
    },
    get server() {
      if (!server) throw new Error("useTestServer: the server is not ready (used before beforeAll ran, or its set-up failed)");
      return server;
    },
  };
}

/**
 * A SignalClient on the fixture's server, made once the server is up and closed after the
 * file's tests. Call it after `useTestServer`.
 */
export function useTestClient(fixture: TestServerFixture, options: Omit<ClientOptions, "apiKey" | "baseUrl"> = {}): { readonly client: SignalClient } {
  let client: SignalClient | undefined;
  beforeAll(() => {
    client = new SignalClient({ ...options, apiKey: fixture.server.key, baseUrl: fixture.server.url });
  });
  afterAll(async () => {
    await client?.close();
  });
  return {
    get client() {
      if (!client) throw new Error("useTestClient: the client is not ready (used before beforeAll ran)");
      return client;
    },
  };
}

/** A response with its parsed JSON body. */
export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the server over real HTTP; `body` is JSON-encoded unless it is a string (sent verbatim). */
export async function call<T = any>(
  server: { url: string; key?: string },
  method: string,
  pathname: string,
  options: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? server.key : options.key;
  if (key) headers.authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(server.url + pathname, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

/** Asserts `value` matches a generated response schema (unknown keys included) and returns it. */
export function conform<S extends z.ZodMiniType>(schema: S, value: unknown): z.output<S> {
  const result = checkAgainst(schema, value);
  if (!result.ok) throw new Error(`response breaks the schema: ${summarizeIssues(result.issues)}\n${JSON.stringify(value).slice(0, 500)}`);
  return result.value;
}

/** Q→A pairs the tiny model learns in a few dozen steps at a high learning rate. */
export const QA = [
  { prompt: "Q: red?\nA:", completion: " apple\n" },
  { prompt: "Q: blue?\nA:", completion: " sky\n" },
  { prompt: "Q: green?\nA:", completion: " leaf\n" },
  { prompt: "Q: gold?\nA:", completion: " sun\n" },
];

/** A run on the tiny model with a high learning rate. */
export async function createTinyRun(server: { url: string; key?: string }, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await call(server, "POST", "/v1/runs", { body: { base_model: "signal-byte-tiny", learning_rate: 0.02, seed: 1, ...extra } });
  if (created.status !== 201) throw new Error(`createRun failed: ${JSON.stringify(created.body)}`);
  return created.body.run_id as string;
}
