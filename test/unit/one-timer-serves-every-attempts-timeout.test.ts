import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APIConnectionError, APITimeoutError, SignalClient } from "../../src/index.js";

/**
 * A client's attempts share one timer, armed for the earliest deadline in flight (pool.ts). These
 * hold it to what a timer per attempt gave: each attempt times out at its own deadline, a stream
 * is not cut by the timeout once its answer has come, and a process is not kept alive by it.
 */
const root = new URL("../..", import.meta.url).pathname;

describe("the attempts' timeouts", () => {
  let server: Server;
  let baseUrl: string;
  /** Streams waiting for the test to write to them. */
  const streams: ServerResponse[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url?.includes("/sample")) {
        request.resume();
        request.on("end", () => {
          response.writeHead(200, { "content-type": "text/event-stream", "x-request-id": "req_stream" });
          response.flushHeaders();
          streams.push(response);
        });
      }
      // Anything else is never answered.
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("times out a short attempt started after a long one first, and the long one later at its own", async () => {
    const client = new SignalClient({ apiKey: "sk-test", baseUrl, maxRetries: 0 });
    let longEnded = false;
    const long = client
      .getRun("run_longtimeout1", { timeout: 3_000 })
      .catch((e: unknown) => e)
      .finally(() => (longEnded = true));
    const short = await client.getRun("run_shorttimeout", { timeout: 100 }).catch((e: unknown) => e);
    expect(short).toBeInstanceOf(APITimeoutError);
    // Had the short one waited for the long one's timer, both would end together.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(longEnded).toBe(false);
    expect(await long).toBeInstanceOf(APITimeoutError);
    expect((await long) as Error).toHaveProperty("message", expect.stringContaining("timed out after 3000 ms"));
    await client.close();
  });

  it("does not cut a stream that outlives the timeout once its answer has come", async () => {
    const client = new SignalClient({ apiKey: "sk-test", baseUrl, maxRetries: 0 });
    const chunk = (delta: string, finish: string | null) => `data: ${JSON.stringify({ index: 0, prompt_index: 0, delta, finish_reason: finish })}\n\n`;
    const before = streams.length;
    const pieces: string[] = [];
    const reading = (async () => {
      for await (const piece of client.inference("run_streamlong01", { timeout: 150, maxRetries: 0 }).streamSample("Q:", { max_tokens: 2 }))
        pieces.push(piece.delta);
    })();
    while (streams.length === before) await new Promise((resolve) => setTimeout(resolve, 5));
    const response = streams[before]!;
    response.write(chunk(" a", null));
    await new Promise((resolve) => setTimeout(resolve, 450)); // three timeouts' worth
    response.write(chunk(" b", "length"));
    response.end();
    await reading;
    expect(pieces).toEqual([" a", " b"]);
    await client.close();
  });

  it("closing the client while an attempt waits ends it as closed, not as timed out", async () => {
    const client = new SignalClient({ apiKey: "sk-test", baseUrl, timeout: 200, maxRetries: 3 });
    const call = client.getRun("run_closedwait01").catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await client.close();
    expect(await call).toBeInstanceOf(APIConnectionError);
  });

  it("does not keep a process alive after its last call: a script ends at once, not after the 60 s timeout", async () => {
    const dir = mkdtempSync(join(tmpdir(), "signal-timer-exit-"));
    try {
      const script = join(dir, "script.mts");
      writeFileSync(
        script,
        [
          `import { createServer } from "node:http";`,
          `import { SignalClient } from ${JSON.stringify(join(root, "src/index.ts"))};`,
          `const run = { object: "run", run_id: "run_abcdefgh1234", base_model: "m", lora_r: 8, lora_alpha: 16, target_modules: ["q_proj"], learning_rate: 0.001, seed: 1, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0 }, name: null, metadata: {}, status: "active", current_step: 0, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" };`,
          `const server = createServer((req, res) => { res.setHeader("content-type", "application/json"); res.setHeader("connection", "close"); res.end(JSON.stringify(run)); });`,
          `server.listen(0, "127.0.0.1", async () => {`,
          `  const client = new SignalClient({ apiKey: "sk-test", baseUrl: "http://127.0.0.1:" + server.address().port, timeout: 60000 });`,
          `  for (let i = 0; i < 3; i++) await client.getRun("run_abcdefgh1234");`,
          `  server.close();`,
          `  console.log("done");`,
          `});`,
        ].join("\n"),
      );
      const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout.on("data", (data: Buffer) => (out += data.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(out.trim()).toBe("done");
      expect(code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
