import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine, SampleFlow } from "../../src/server/engine/types.js";
import { type TestServer, call, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// A client that opens a stream and never reads used to get the whole generation buffered in the
// server's heap (tens of MiB for a big request); now generation waits for the socket to drain.

let engine: Engine;
let server: TestServer;
let runId: string;
let flow: SampleFlow | undefined;
let events = 0;
let finished = false;

beforeAll(async () => {
  engine = await testEngine();
  const watched: Engine = Object.create(engine);
  watched.sample = (weights, prompts, params, options = {}) => {
    if (!options.onToken) return engine.sample(weights, prompts, params, options);
    flow = options.flow;
    const onToken = options.onToken;
    const outcome = engine.sample(weights, prompts, params, {
      ...options,
      onToken: (event) => {
        events++;
        onToken(event);
      },
    });
    void outcome.finally(() => (finished = true)).catch(() => undefined);
    return outcome;
  };
  server = await startTestServer(watched);
  runId = await createTinyRun(server);
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

describe("a streamed sample whose client does not read", () => {
  it("pauses its generation while other calls go on, and resumes when the client reads", async () => {
    // 64 × 4 sequences of up to 240 tokens: megabytes of events, more than the socket buffers hold.
    const body = JSON.stringify({ prompts: Array.from({ length: 64 }, (_, i) => `p${i}`), n: 4, max_tokens: 240, temperature: 1, seed: 5, stream: true, logprobs: true });
    const socket = net.connect(Number(new URL(server.url).port), "127.0.0.1");
    socket.pause();
    socket.write(
      `POST /v1/runs/${runId}/sample HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${server.key}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    await expect.poll(() => flow?.paused, { timeout: 30_000 }).toBe(true);
    expect(finished).toBe(false);
    const generated = events;
    // The same run's weights serve another call meanwhile.
    const other = await call(server, "POST", `/v1/runs/${runId}/sample`, { body: { prompts: ["Q: red?\nA:"], max_tokens: 8 } });
    expect(other.status).toBe(200);
    expect(flow!.paused).toBe(true);
    expect(finished).toBe(false);

    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.resume();
    await closed;
    expect(events).toBeGreaterThan(generated);
    expect(text).toContain("data: [DONE]");
    const finishes = (text.match(/data: \{[^\n]*/g) ?? []).filter((line) => !line.includes('"finish_reason":null'));
    expect(finishes).toHaveLength(64 * 4);
  });
});
