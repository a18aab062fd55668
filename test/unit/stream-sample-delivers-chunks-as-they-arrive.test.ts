import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { NotFoundError, RateLimitError, SignalClient } from "../../src/index.js";
import { KEY, RUN_ID } from "./helpers/scripted-fetch.js";

const chunk = (delta: string, finish: string | null = null) => `data: ${JSON.stringify({ index: 0, prompt_index: 0, delta, finish_reason: finish })}\n\n`;

interface Harness {
  baseUrl: string;
  /** Resolves when the server has a request to answer, with its response. */
  nextResponse: () => Promise<ServerResponse>;
  bodies: unknown[];
  closed: Promise<void>;
}

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function startServer(): Promise<Harness> {
  const waiting: Array<(res: ServerResponse) => void> = [];
  const bodies: unknown[] = [];
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      bodies.push(JSON.parse(body));
      res.on("close", () => markClosed());
      res.writeHead(200, { "content-type": "text/event-stream", "x-request-id": "req_stream" });
      res.flushHeaders();
      waiting.shift()?.(res);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    nextResponse: () => new Promise((resolve) => waiting.push(resolve)),
    bodies,
    closed,
  };
}

describe("streamSample", () => {
  it("yields the first chunk before the server has sent the last", async () => {
    const h = await startServer();
    const inference = new SignalClient({ apiKey: KEY, baseUrl: h.baseUrl }).inference(RUN_ID, { step: 3 });
    let sentLast = false;
    const response = h.nextResponse();
    void response.then((res) => res.write(chunk(" Par")));
    const received: string[] = [];
    for await (const piece of inference.streamSample("Q: capital of France?\nA:", { max_tokens: 4, temperature: 0 })) {
      received.push(piece.delta);
      if (received.length === 1) {
        expect(sentLast).toBe(false);
        // only now does the server send the rest
        const res = await response;
        sentLast = true;
        res.end(`${chunk("is", "stop")}data: [DONE]\n\n`);
      } else {
        expect(piece).toEqual({ index: 0, prompt_index: 0, delta: "is", finish_reason: "stop" });
      }
    }
    expect(received).toEqual([" Par", "is"]);
    expect(h.bodies[0]).toMatchObject({ prompts: ["Q: capital of France?\nA:"], stream: true, step: 3, max_tokens: 4 });
  });

  it("breaking out of the loop aborts the request and the server sees the close", { timeout: 5000 }, async () => {
    const h = await startServer();
    const inference = new SignalClient({ apiKey: KEY, baseUrl: h.baseUrl }).inference(RUN_ID);
    void h.nextResponse().then((res) => res.write(chunk("a")));
    for await (const piece of inference.streamSample("x")) {
      expect(piece.delta).toBe("a");
      break;
    }
    await h.closed; // would time out if the connection stayed open
  });

  it("an `event: error` frame throws the mapped APIError", async () => {
    const h = await startServer();
    const inference = new SignalClient({ apiKey: KEY, baseUrl: h.baseUrl }).inference(RUN_ID);
    void h.nextResponse().then((res) => {
      const error = { error: { type: "rate_limit_error", code: "rate_limited", message: "slow down", request_id: "req_x" } };
      res.end(`${chunk("a")}event: error\ndata: ${JSON.stringify(error)}\n\n`);
    });
    const seen: string[] = [];
    const failure = await (async () => {
      for await (const piece of inference.streamSample("x")) seen.push(piece.delta);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["a"]);
    expect(failure).toBeInstanceOf(RateLimitError);
    expect(failure).toMatchObject({ code: "rate_limited", status: 429 });
  });

  it("an error status before the stream starts throws the mapped error", async () => {
    server = createServer((_req, res) => {
      res.writeHead(404, { "content-type": "application/json", "x-request-id": "req_nf" });
      res.end(JSON.stringify({ error: { type: "not_found_error", code: "run_not_found", message: "no run", request_id: "req_nf" } }));
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const inference = new SignalClient({ apiKey: KEY, baseUrl: `http://127.0.0.1:${port}` }).inference(RUN_ID);
    const failure = await (async () => {
      for await (const _ of inference.streamSample("x")) void _;
    })().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(NotFoundError);
  });
});
