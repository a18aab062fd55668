import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Engine, EngineError, type SampleFlow, type SampleResult } from "../../src/server/engine/types.js";
import { type TestServer, call, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// A client that opens a stream and never reads used to get the whole generation buffered in the
// server's heap (megabytes per stream); now generation waits for the socket to drain, and a
// client that does not read for `streamStallMs` is cut off.

/** One streamed engine call as the test sees it. */
interface Streamed {
  flow: SampleFlow | undefined;
  events: number;
  outcome: Promise<SampleResult | EngineError>;
  ended: boolean;
}

let engine: Engine;
let server: TestServer;
let stalling: TestServer;
const streams: Streamed[] = [];

beforeAll(async () => {
  engine = await testEngine();
  const watched: Engine = Object.create(engine);
  watched.sample = (weights, prompts, params, options = {}) => {
    const onToken = options.onToken;
    if (!onToken) return engine.sample(weights, prompts, params, options);
    const seen: Streamed = { flow: options.flow, events: 0, outcome: Promise.resolve(new EngineError("aborted", "not started")), ended: false };
    const result = engine.sample(weights, prompts, params, {
      ...options,
      onToken: (event) => {
        seen.events++;
        onToken(event);
      },
    });
    seen.outcome = result.catch((e: EngineError) => e).finally(() => (seen.ended = true));
    streams.push(seen);
    return result;
  };
  server = await startTestServer(watched);
  stalling = await startTestServer(watched, { limits: { streamStallMs: 300 } });
});
afterAll(async () => {
  await server?.dispose();
  await stalling?.dispose();
  await engine?.close();
});

/**
 * Opens a streamed sample on a raw socket that reads nothing. The request generates far more
 * than the loopback socket buffers hold (~4 MB here): 256 × 4 sequences of up to 240 tokens,
 * ~90 bytes of event each.
 */
async function unreadStream(target: TestServer): Promise<{ socket: net.Socket; seen: Streamed }> {
  const runId = await createTinyRun(target);
  const body = JSON.stringify({
    prompts: Array.from({ length: 256 }, (_, i) => `p${i}`),
    n: 4,
    max_tokens: 240,
    temperature: 1,
    seed: 5,
    stream: true,
    logprobs: true,
  });
  const before = streams.length;
  const socket = net.connect(Number(new URL(target.url).port), "127.0.0.1");
  socket.pause();
  socket.write(
    `POST /v1/runs/${runId}/sample HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${target.key}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  await expect.poll(() => streams.length, { timeout: 30_000 }).toBe(before + 1);
  return { socket, seen: streams[before]! };
}

describe("a streamed sample whose client does not read", () => {
  it("pauses its generation while other calls go on, resumes when the client reads, and stops when it leaves", async () => {
    const { socket, seen } = await unreadStream(server);
    await expect.poll(() => seen.flow?.paused, { timeout: 45_000 }).toBe(true);
    expect(seen.ended).toBe(false);
    const atPause = seen.events;

    // Other calls are served meanwhile, and the paused stream stays paused.
    const runId = await createTinyRun(server);
    const other = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["Q: red?\nA:"], max_tokens: 8 } });
    expect(other.status).toBe(200);
    expect(seen.flow!.paused).toBe(true);
    expect(seen.ended).toBe(false);

    // Reading lets it go on.
    let received = 0;
    socket.on("data", (chunk: Buffer) => (received += chunk.length));
    socket.resume();
    await expect.poll(() => seen.events, { timeout: 45_000 }).toBeGreaterThan(atPause + 5_000);
    expect(received).toBeGreaterThan(0);

    // Leaving ends it.
    socket.destroy();
    expect(await seen.outcome).toMatchObject({ code: "aborted" });
  });

  it("cuts off a client that has not read for streamStallMs, which ends its generation", async () => {
    const { socket, seen } = await unreadStream(stalling);
    try {
      await expect.poll(() => seen.flow?.paused, { timeout: 45_000 }).toBe(true);
      expect(await seen.outcome).toMatchObject({ code: "aborted" });
    } finally {
      socket.destroy();
    }
  });
});
