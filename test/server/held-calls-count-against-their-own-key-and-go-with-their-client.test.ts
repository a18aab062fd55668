import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/server/engine/types.js";
import { type TestServer, call, createTinyRun, startTestServer, testEngine } from "./helpers.js";

// The probe: pipelined calls held for a missing position, and requests that send headers but
// never their body, kept places in the server's shared queue for 30 s: two keys holding 64
// each made a third key's train_step, sample and createRun 503 for 27 s, and held calls whose
// clients had gone kept their places. A held call now counts against its own key and run only,
// and goes when its client goes.

let engine: Engine;
let server: TestServer;
const keyC = { url: "", key: "sk-test-b" };
beforeAll(async () => {
  engine = await testEngine();
  server = await startTestServer(engine, {
    apiKeys: ["sk-test-a", "sk-test-b", "sk-test-d"],
    limits: { maxQueued: 2, maxQueuedPerKey: 4, maxHeldPerKey: 4, maxQueuedPerRun: 8 },
    sequenceHoldMs: 60_000,
  });
  keyC.url = server.url;
});
afterAll(async () => {
  await server?.dispose();
  await engine?.close();
});

/** Key C's engine calls, which the server's shared queue (2 places) must still take one at a time. */
async function keyCIsServed(): Promise<void> {
  const runC = await createTinyRun(keyC);
  for (let i = 0; i < 2; i++) {
    const sampled = await call(keyC, "POST", `/v1/runs/${runC}/sample`, { body: { prompts: ["Q"], max_tokens: 1 } });
    expect(sampled.status, JSON.stringify(sampled.body)).toBe(200);
  }
  expect((await call(keyC, "POST", `/v1/runs/${runC}/train_step`, { body: { batch: [{ text: "a b" }] } })).status).toBe(200);
}

/** Key A's (or D's) own sample: admitted only while the key has a place free. */
const keyASample = (runA: string, key = server.key) => call(server, "POST", `/v1/runs/${runA}/sample`, { key, body: { prompts: ["Q"], max_tokens: 1 } });

/** A call kept waiting: `answered` once the server has answered it (refused it), `end` drops it. */
interface Holding {
  answered: () => boolean;
  end: () => void;
}

/**
 * Opens `count` calls that wait, until the key's probe sample is refused with all of them still
 * waiting. A probe that raced ahead of one of them took its place, and that one was refused:
 * it is opened again.
 */
async function holdAll(count: number, open: (i: number) => Holding, probe: () => Promise<number>): Promise<Holding[]> {
  const holdings = Array.from({ length: count }, (_, i) => open(i));
  for (let attempt = 0; attempt < 50; attempt++) {
    const status = await probe();
    holdings.forEach((h, i) => {
      if (h.answered()) holdings[i] = open(i + count * (attempt + 1));
    });
    if (status === 429 && holdings.every((h) => !h.answered())) return holdings;
  }
  throw new Error("the calls never all waited at once");
}

describe("held calls", () => {
  it("waiting for a missing position take no place in the shared queue, are capped per key, and go at once when their client does", async () => {
    const runA = await createTinyRun(server);
    // Positions of a client whose position 0 never comes: each is held for 60 s.
    const held = await holdAll(
      4,
      (i) => {
        const abort = new AbortController();
        let answered = false;
        fetch(`${server.url}/v1/runs/${runA}/zero_grad`, {
          method: "POST",
          headers: { authorization: `Bearer ${server.key}`, "signal-sequence": `holder-aaaa:${i + 1}` },
          signal: abort.signal,
        }).then(
          () => (answered = true),
          () => undefined,
        );
        return { answered: () => answered, end: () => abort.abort() };
      },
      async () => (await keyASample(runA)).status,
    );

    await keyCIsServed();

    for (const h of held) h.end();
    // Within the hold (60 s), only the disconnects can have freed key A's places.
    await expect.poll(async () => (await keyASample(runA)).status, { timeout: 10_000 }).toBe(200);
  });

  it("still sending their body take no place in the shared queue, and go at once when their client does", async () => {
    // A key of its own: key A's aborted calls of the test above may still be on their way out.
    const key = "sk-test-d";
    const runA = await createTinyRun({ url: server.url, key });
    const { port } = new URL(server.url);
    const stalled = await holdAll(
      4,
      () => {
        const socket = connect(Number(port), "127.0.0.1");
        let answered = false;
        socket.on("error", () => undefined);
        socket.on("data", () => (answered = true));
        socket.write(
          `POST /v1/runs/${runA}/forward_backward HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"batch":`,
        );
        return { answered: () => answered, end: () => socket.destroy() };
      },
      async () => (await keyASample(runA, key)).status,
    );

    await keyCIsServed();

    for (const h of stalled) h.end();
    await expect.poll(async () => (await keyASample(runA, key)).status, { timeout: 10_000 }).toBe(200);
  });
});
