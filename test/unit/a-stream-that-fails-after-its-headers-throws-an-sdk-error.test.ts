import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { APIConnectionError, APIUserAbortError, RateLimitError, SignalClient, SignalError, Stream } from "../../src/index.js";
import type { SampleChunk } from "../../src/index.js";
import { KEY, RUN_ID } from "./helpers/scripted-fetch.js";

const chunk = (delta: string, finish: string | null = null) => `data: ${JSON.stringify({ index: 0, prompt_index: 0, delta, finish_reason: finish })}\n\n`;

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A loopback server that sends the stream's headers and first chunk, then hands the response to the test. */
async function streamingServer(): Promise<{ client: SignalClient; next: () => Promise<ServerResponse> }> {
  const waiting: Array<(res: ServerResponse) => void> = [];
  server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream", "x-request-id": "req_stream" });
      res.write(chunk("first"));
      waiting.shift()?.(res);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const client = new SignalClient({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}`, maxRetries: 0 });
  return { client, next: () => new Promise((resolve) => waiting.push(resolve)) };
}

/** Reads the first chunk, runs `then`, and returns what the rest of the loop threw. */
async function failureAfterFirstChunk(stream: Stream<SampleChunk>, then: () => void): Promise<unknown> {
  try {
    for await (const c of stream) {
      expect(c.delta).toBe("first");
      then();
    }
  } catch (error) {
    return error;
  }
  throw new Error("the stream ended without an error");
}

describe("a stream that fails after its headers", () => {
  it("throws APIUserAbortError when the caller's signal aborts", async () => {
    const { client, next } = await streamingServer();
    void next();
    const abort = new AbortController();
    const error = await failureAfterFirstChunk(client.streamSample(RUN_ID, "p", {}, { signal: abort.signal }), () => abort.abort());
    expect(error).toBeInstanceOf(APIUserAbortError);
  });

  it("throws APIUserAbortError when stream.controller aborts", async () => {
    const { client, next } = await streamingServer();
    void next();
    const stream = client.inference(RUN_ID).streamSample("p");
    expect(stream.controller).toBeInstanceOf(AbortController);
    const error = await failureAfterFirstChunk(stream, () => stream.controller.abort());
    expect(error).toBeInstanceOf(APIUserAbortError);
  });

  it("throws APIConnectionError when the client is closed", async () => {
    const { client, next } = await streamingServer();
    void next();
    const error = await failureAfterFirstChunk(client.streamSample(RUN_ID, "p"), () => void client.close());
    expect(error).toBeInstanceOf(APIConnectionError);
  });

  it("throws APIConnectionError when the connection is reset", async () => {
    const { client, next } = await streamingServer();
    void next().then((res) => setTimeout(() => res.socket?.destroy(), 10));
    const error = await failureAfterFirstChunk(client.streamSample(RUN_ID, "p"), () => {});
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as Error).message).toContain("lost its connection");
  });

  it("throws the mapped APIError for an error event", async () => {
    const { client, next } = await streamingServer();
    void next().then((res) =>
      res.end(
        `event: error\ndata: ${JSON.stringify({ error: { type: "rate_limit_error", code: "busy", message: "slow down", request_id: "req_stream" } })}\n\n`,
      ),
    );
    const error = await failureAfterFirstChunk(client.streamSample(RUN_ID, "p"), () => {});
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toBeInstanceOf(SignalError);
  });
});

describe("a Stream", () => {
  it("tee() gives two streams over the same chunks", async () => {
    const { client, next } = await streamingServer();
    void next().then((res) => res.end(chunk(" second", "stop")));
    const [left, right] = client.streamSample(RUN_ID, "p").tee();
    const read = async (s: Stream<SampleChunk>) => {
      const out: string[] = [];
      for await (const c of s) out.push(c.delta);
      return out;
    };
    const [a, b] = await Promise.all([read(left), read(right)]);
    expect(a).toEqual(["first", " second"]);
    expect(b).toEqual(a);
  });

  it("toReadableStream() is newline-delimited JSON that fromReadableStream reads back", async () => {
    const { client, next } = await streamingServer();
    void next().then((res) => res.end(chunk(" second", "stop")));
    const bytes = client.streamSample(RUN_ID, "p").toReadableStream();
    const back: string[] = [];
    for await (const c of Stream.fromReadableStream<SampleChunk>(bytes)) back.push(c.delta);
    expect(back).toEqual(["first", " second"]);
  });

  it("is read once: a second iteration is a SignalError", async () => {
    const { client, next } = await streamingServer();
    void next().then((res) => res.end(chunk("", "stop")));
    const stream = client.streamSample(RUN_ID, "p");
    for await (const _ of stream) void _;
    expect(() => stream[Symbol.asyncIterator]()).toThrow(SignalError);
  });
});
