import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APIConnectionError, APITimeoutError, APIUserAbortError, SignalClient } from "../../src/index.js";
import { attemptAbort, LightAbort } from "../../src/internal/attempt-abort.js";

/**
 * With no `fetch` option the SDK sends through Node's own fetch and hands each attempt a
 * LightAbort instead of an AbortController (see attempt-abort.ts). These tests hold that to what
 * an AbortController gives, on a real socket: a timeout, the caller's signal and `close()` each
 * end the request on the wire (the server sees its connection close), not just the promise.
 */

describe("a request through Node's own fetch", () => {
  let server: Server;
  let baseUrl: string;
  /** Requests that arrived and are never answered, with whether their connection closed. */
  const arrived: Array<{ request: IncomingMessage; closed: Promise<void> }> = [];
  /** The requests for one run id: each test asks for its own, so a late arrival of another test's is not counted. */
  const arrivedFor = (runId: string) => arrived.filter(({ request }) => request.url?.includes(runId));

  beforeAll(async () => {
    server = createServer((request) => {
      const closed = new Promise<void>((resolve) => request.socket.once("close", () => resolve()));
      arrived.push({ request, closed });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("gets a LightAbort per attempt, which that fetch follows", () => {
    expect(attemptAbort(true)).toBeInstanceOf(LightAbort);
    // An injected fetch gets an AbortController: only the global one was tried.
    expect(attemptAbort(false)).toBeInstanceOf(AbortController);
  });

  it("ends an attempt that outlives its timeout on the wire, then fails with APITimeoutError", async () => {
    const runId = "run_timeout0001";
    const client = new SignalClient({ apiKey: "sk-test", baseUrl, timeout: 1500, maxRetries: 0 });
    const call = client.getRun(runId).catch((e: unknown) => e);
    await until(() => arrivedFor(runId).length === 1);
    expect(await call).toBeInstanceOf(APITimeoutError);
    await arrivedFor(runId)[0]!.closed; // would hang (and time the test out) if the socket stayed open
    expect(arrivedFor(runId)).toHaveLength(1);
    await client.close();
  });

  it("ends the request on the wire when the caller's signal aborts, with APIUserAbortError", async () => {
    const runId = "run_useraborts01";
    const client = new SignalClient({ apiKey: "sk-test", baseUrl, maxRetries: 2 });
    const controller = new AbortController();
    const call = client.getRun(runId, { signal: controller.signal }).catch((e: unknown) => e);
    await until(() => arrivedFor(runId).length === 1);
    controller.abort(new Error("user stop"));
    const error = await call;
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect((error as Error).cause).toEqual(new Error("user stop"));
    await arrivedFor(runId)[0]!.closed;
    expect(arrivedFor(runId)).toHaveLength(1); // not retried
    await client.close();
  });

  it("ends every request in flight on the wire when the client closes", async () => {
    const runId = "run_closing00001";
    const client = new SignalClient({ apiKey: "sk-test", baseUrl, maxRetries: 2 });
    const calls = [client.getRun(runId), client.getRun(runId, { timeout: 120_000 })].map((call) => Promise.resolve(call).catch((e: unknown) => e));
    await until(() => arrivedFor(runId).length === 2);
    await client.close();
    for (const error of await Promise.all(calls)) expect(error).toBeInstanceOf(APIConnectionError);
    await Promise.all(arrivedFor(runId).map((a) => a.closed));
    expect(arrivedFor(runId)).toHaveLength(2);
  });
});

describe("LightAbort", () => {
  it("calls each abort listener once, with itself as `this`, and keeps the reason", () => {
    const light = new LightAbort();
    const seen: unknown[] = [];
    function listener(this: unknown) {
      seen.push(this);
    }
    const removed = () => seen.push("removed");
    light.addEventListener("abort", listener);
    light.addEventListener("abort", listener); // the same listener twice is one listener
    light.addEventListener("abort", removed);
    light.removeEventListener("abort", removed);
    expect(light.listeners("abort")).toHaveLength(1);
    const reason = new Error("why");
    light.abort(reason);
    light.abort(new Error("again"));
    expect(seen).toEqual([light]);
    expect(light.aborted).toBe(true);
    expect(light.reason).toBe(reason);
    expect(() => light.throwIfAborted()).toThrow(reason);
  });

  it("aborts with an AbortError when no reason is given, as AbortController does", () => {
    const light = new LightAbort();
    light.abort();
    const controller = new AbortController();
    controller.abort();
    expect((light.reason as DOMException).name).toBe((controller.signal.reason as DOMException).name);
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
