import { createServer, type Server, type Socket, connect } from "node:net";
import type { AddressInfo } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { APIUserAbortError, NotFoundError, SignalClient, type WatchedRunEvent } from "../../src/index.js";
import { QA, call, conform, createTinyRun, useTestClient, useTestServer } from "./helpers.js";

const fixture = useTestServer();
const sdk = useTestClient(fixture);

/** One parsed SSE event of a raw connection. */
interface Raw {
  id: string;
  event: string;
  data: any;
}

/** Opens the event stream over plain HTTP and reads events one at a time. */
async function openRaw(runId: string, headers: Record<string, string> = {}, key = fixture.server.key) {
  const controller = new AbortController();
  const response = await fetch(`${fixture.server.url}/v1/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${key}`, ...headers },
    signal: controller.signal,
  });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    response,
    async next(): Promise<Raw> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split("\n")) {
            const colon = line.indexOf(":");
            if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
          }
          if (!fields.has("data")) continue; // retry: advice, or a ping
          return { id: fields.get("id")!, event: fields.get("event")!, data: JSON.parse(fields.get("data")!) };
        }
        const { done, value } = await reader.read();
        if (done) throw new Error("the stream ended");
        buffer += value;
      }
    },
    close: () => controller.abort(),
  };
}

/** A TCP relay to the server whose open connections the test can cut, as a network failure would. */
async function startCutter(upstream: string): Promise<{ url: string; connections: number; seen: string[]; cut(): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(upstream);
  const sockets = new Set<Socket>();
  const state = { connections: 0, seen: [] as string[] };
  const server: Server = createServer((client) => {
    state.connections++;
    const target = connect(Number(port), hostname);
    sockets.add(client).add(target);
    client.on("data", (chunk) => state.seen.push(chunk.toString("latin1")));
    client.pipe(target).pipe(client);
    const end = () => {
      client.destroy();
      target.destroy();
      sockets.delete(client);
      sockets.delete(target);
    };
    client.on("error", end).on("close", end);
    target.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return state.connections;
    },
    seen: state.seen,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let runId: string;
beforeAll(async () => {
  runId = await createTinyRun(fixture.server);
});

describe("GET /v1/runs/{run_id}/events", () => {
  it("starts with the run as it is, then sends each step, checkpoint saved and deleted as it happens", async () => {
    const stream = await openRaw(runId);
    try {
      expect(stream.response.status).toBe(200);
      expect(stream.response.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const first = await stream.next();
      expect(first.event).toBe("run.updated");
      expect(first.data).toMatchObject({ type: "run.updated", run_id: runId, run: { run_id: runId, current_step: 0 } });
      conform(gen.zRunEvent, first.data);

      const trained = conform(gen.zTrainStepResponse, (await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } })).body);
      const step = await stream.next();
      expect(step.event).toBe("step.applied");
      const event = conform(gen.zRunEvent, step.data);
      expect(event.step).toBe(1);
      expect(event.metric).toMatchObject({ step: 1, loss: trained.loss });
      expect(event.metric?.token_accuracy).toBe(trained.token_accuracy);

      await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "adapter" } });
      const saved = await stream.next();
      expect(saved.data).toMatchObject({ type: "checkpoint.saved", step: 1, checkpoint: { step: 1, mode: "adapter" } });
      await call(fixture.server, "DELETE", `/v1/runs/${runId}/checkpoints/1`);
      const deleted = await stream.next();
      expect(deleted.data).toEqual({ type: "checkpoint.deleted", run_id: runId, step: 1 });
      // Ids increase, so a resume after one is well defined.
      const ids = [first, step, saved, deleted].map((e) => Number(e.id.split(".")[1]));
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    } finally {
      stream.close();
    }
  });

  it("with Last-Event-ID sends what was missed first; an id it does not know gets a resync", async () => {
    const before = await openRaw(runId);
    const current = await before.next();
    before.close();
    // Two steps happen while nobody listens.
    for (let i = 0; i < 2; i++) await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    const step = conform(gen.zGetRunResponse, (await call(fixture.server, "GET", `/v1/runs/${runId}`)).body).current_step;

    const resumed = await openRaw(runId, { "last-event-id": current.id });
    try {
      const missed = [await resumed.next(), await resumed.next()];
      expect(missed.map((e) => [e.event, e.data.step])).toEqual([
        ["step.applied", step - 1],
        ["step.applied", step],
      ]);
    } finally {
      resumed.close();
    }

    const stranger = await openRaw(runId, { "last-event-id": "0badc0de.3" });
    try {
      const first = await stranger.next();
      expect(first.data).toMatchObject({ type: "run.updated", resync: true, run: { current_step: step } });
    } finally {
      stranger.close();
    }
  });

  it("is a 404 for a run of another key, before any event", async () => {
    const reply = await call(fixture.server, "GET", `/v1/runs/${runId}/events`, { key: "sk-test-b" });
    expect(reply.status).toBe(404);
    expect(conform(gen.zError, reply.body).error.code).toBe("run_not_found");
  });
});

describe("client.watchRun", () => {
  it("yields every step exactly once, in order, across a dropped connection (resuming with Last-Event-ID)", async () => {
    const cutter = await startCutter(fixture.server.url);
    const watcher = new SignalClient({ apiKey: fixture.server.key, baseUrl: cutter.url });
    const controller = new AbortController();
    const steps: number[] = [];
    const events: WatchedRunEvent[] = [];
    let target = 0;
    const done = (async () => {
      try {
        for await (const event of watcher.watchRun(runId, { signal: controller.signal })) {
          events.push(event);
          if (event.type === "step.applied") steps.push(event.step!);
          if (event.type === "step.applied" && event.step === target) controller.abort();
        }
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    try {
      const run = sdk.client;
      const start = (await run.getRun(runId)).current_step;
      target = start + 4;
      // Wait for the first event so the stream is open before training.
      while (events.length === 0) await new Promise((r) => setTimeout(r, 10));
      await run.trainBatch(runId, QA);
      await run.trainBatch(runId, QA);
      while (!steps.includes(start + 2)) await new Promise((r) => setTimeout(r, 10));
      cutter.cut();
      // Applied while the watcher is disconnected.
      await run.trainBatch(runId, QA);
      await run.trainBatch(runId, QA);
      const error = await done;
      expect(error).toBeInstanceOf(APIUserAbortError);
      expect(steps).toEqual([start + 1, start + 2, start + 3, start + 4]);
      expect(cutter.connections).toBeGreaterThanOrEqual(2);
      const resumedWith = cutter.seen.find((text) => /last-event-id: /i.test(text));
      expect(resumedWith).toBeDefined();
      const sent = /last-event-id: (\S+)/i.exec(resumedWith!)![1];
      expect(events.find((e) => e.id === sent)?.step).toBe(start + 2);
    } finally {
      controller.abort();
      await watcher.close();
      await cutter.close();
    }
  });

  it("ends with NotFoundError for a run it cannot see, and after run.deleted when the run goes", async () => {
    const other = new SignalClient({ apiKey: "sk-test-b", baseUrl: fixture.server.url });
    try {
      const iterate = async () => {
        for await (const _ of other.watchRun(runId)) break;
      };
      await expect(iterate()).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await other.close();
    }
    const doomed = await createTinyRun(fixture.server);
    const seen: string[] = [];
    const finished = (async () => {
      for await (const event of sdk.client.watchRun(doomed)) {
        seen.push(event.type);
        if (event.type === "run.updated") await sdk.client.deleteRun(doomed);
      }
    })();
    await finished;
    expect(seen).toEqual(["run.updated", "run.deleted"]);
  });
});
