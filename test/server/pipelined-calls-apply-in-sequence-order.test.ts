import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/server/wire/api-error.js";
import { CallSequencer, isRetryable } from "../../src/server/runs/call-sequencer.js";
import type { RunRecord } from "../../src/server/store/run-record.js";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { QA, call, createTinyRun, startTestServer, testEngine, useTestServer } from "./helpers.js";

const fixture = useTestServer({ sequenceHoldMs: 300 });
const run = (sequences?: RunRecord["sequences"]) => ({ run_id: "run_x", sequences }) as RunRecord;

describe("CallSequencer", () => {
  it("holds an early arrival until its predecessor settles, then lets it go", async () => {
    const seq = new CallSequencer(60_000);
    const order: number[] = [];
    const second = seq.turn(run(), "client-a1:1").then((t) => {
      order.push(1);
      return t;
    });
    const first = await seq.turn(run(), "client-a1:0");
    order.push(0);
    await Promise.resolve();
    expect(order).toEqual([0]);
    first.settle("applied");
    (await second).settle("applied");
    expect(order).toEqual([0, 1]);
  });

  it("a retryable failure keeps its place: the successor waits for the retry", async () => {
    const seq = new CallSequencer(60_000);
    const order: string[] = [];
    (await seq.turn(run(), "client-b1:0")).settle("retryable");
    const next = seq.turn(run(), "client-b1:1").then((t) => {
      order.push("1");
      return t;
    });
    await Promise.resolve();
    const retry = await seq.turn(run(), "client-b1:0");
    order.push("0 again");
    retry.settle("applied");
    (await next).settle("applied");
    expect(order).toEqual(["0 again", "1"]);
  });

  it("continues from the positions a run's record kept (a restart), and refuses a settled position", async () => {
    const seq = new CallSequencer(60_000);
    const t = await seq.turn(run({ "client-c1": { next: 5, at: 0 } }), "client-c1:5");
    t.settle("applied");
    await expect(seq.turn(run(), "client-c1:3")).rejects.toMatchObject({ type: "conflict_error", code: "sequence_superseded" });
  });

  it("a gap nobody fills within the hold breaks the sequence: the calls after it are refused", async () => {
    const seq = new CallSequencer(20);
    await expect(seq.turn(run(), "client-d1:1")).rejects.toMatchObject({
      type: "conflict_error",
      code: "sequence_broken",
      message: expect.stringContaining("call 0 did not arrive within 20 ms"),
    });
    await expect(seq.turn(run(), "client-d1:2")).rejects.toMatchObject({ code: "sequence_broken" });
    // the missing call itself may still come: nothing after it was applied
    (await seq.turn(run(), "client-d1:0")).settle("applied");
  });

  it("a call that fails for good in its turn breaks the sequence: held and later calls are refused, earlier ones still apply", async () => {
    const seq = new CallSequencer(60_000);
    const first = await seq.turn(run(), "client-g1:0");
    const held = seq.turn(run(), "client-g1:2");
    const failing = seq.turn(run(), "client-g1:1");
    first.settle("applied");
    (await failing).settle("failed");
    await expect(held).rejects.toMatchObject({ type: "conflict_error", code: "sequence_broken", message: expect.stringContaining("call 1 failed") });
    await expect(seq.turn(run(), "client-g1:3")).rejects.toMatchObject({ code: "sequence_broken" });
    // a new sequence of the same client (a new id) is not affected
    (await seq.turn(run(), "client-g2:0")).settle("applied");
  });

  it("clients are independent, calls without the header are not held, and a bad header is named", async () => {
    const seq = new CallSequencer(60_000);
    const a = await seq.turn(run(), "client-e1:0");
    const b = await seq.turn(run(), "client-e2:0");
    const none = await seq.turn(run(), undefined);
    expect(none.sequence).toBeUndefined();
    for (const t of [a, b, none]) t.settle("applied");
    await expect(seq.turn(run(), "short:1")).rejects.toMatchObject({ param: "Signal-Sequence" });
  });

  it("a call refused before its turn (e.g. its body is a 400) breaks the sequence; a retryable refusal keeps its place", async () => {
    const seq = new CallSequencer(60_000);
    const next = seq.turn(run(), "client-f1:1");
    seq.refused(run(), "client-f1:0", {}, new ApiError("invalid_example", "x"));
    await expect(next).rejects.toMatchObject({ code: "sequence_broken", message: expect.stringContaining("call 0 was refused") });
    const waiting = seq.turn(run(), "client-f2:1");
    seq.refused(run(), "client-f2:0", {}, new ApiError("overloaded", "x"));
    const state = await Promise.race([waiting.then(() => "went"), Promise.resolve().then(() => "held")]);
    expect(state).toBe("held");
    (await seq.turn(run(), "client-f2:0")).settle("applied");
    (await waiting).settle("applied");
  });

  it("counts 429, 5xx and conflict_retryable as retryable, other 4xx as settled", () => {
    expect(isRetryable(new Error("boom"))).toBe(true);
    expect(isRetryable(new ApiError("overloaded", "x"))).toBe(true);
    expect(isRetryable(new ApiError("conflict_retryable", "x"))).toBe(true);
    expect(isRetryable(new ApiError("invalid_example", "x"))).toBe(false);
  });
});

describe("pipelined calls over HTTP", () => {
  const trainStep = (runId: string, position: number, key: string) =>
    call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, {
      body: { batch: [QA[position % QA.length]!] },
      headers: { "signal-sequence": `client-http:${position}`, "idempotency-key": key },
    });

  it("calls sent in reverse order are applied in position order, each once", async () => {
    const runId = await createTinyRun(fixture.server);
    const replies = await Promise.all([3, 2, 1, 0].map((p) => trainStep(runId, p, `${runId}-${p}`)));
    const steps = Object.fromEntries(replies.map((r, i) => [3 - i, r.body.step]));
    expect(steps).toEqual({ 0: 1, 1: 2, 2: 3, 3: 4 });
    // a retry of call 1 after call 3 was applied is answered from its record
    const retry = await trainStep(runId, 1, `${runId}-1`);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.body.step).toBe(2);
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(4);
  });

  it("after a failed call (400) the calls sent after it are refused with 409 sequence_broken and not applied", async () => {
    const runId = await createTinyRun(fixture.server);
    const bad = call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, {
      body: { batch: [{ tokens: [256, 49], advantages: [0, 1] }] },
      headers: { "signal-sequence": "client-fail:0" },
    });
    const next = call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA }, headers: { "signal-sequence": "client-fail:1" } });
    expect((await bad).status).toBe(400);
    const refused = await next;
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "sequence_broken", param: "Signal-Sequence" });
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body.current_step).toBe(0);
  });

  it("a gap nobody fills within the hold: the later call is refused and not applied, the late one still applies", async () => {
    const runId = await createTinyRun(fixture.server);
    const later = await trainStep(runId, 1, `${runId}-gap-1`);
    expect(later.status).toBe(409);
    expect(later.body.error.code).toBe("sequence_broken");
    const late = await trainStep(runId, 0, `${runId}-gap-0`);
    expect(late.body.step).toBe(1);
  });

  it("a pipelined forward's position survives a restart: the call after it is applied, not held for it", async () => {
    const engine = await testEngine();
    const dataDir = await mkdtemp(path.join(tmpdir(), "signal-sequence-restart-"));
    let server = await startTestServer(engine, { dataDir, sequenceHoldMs: 300 });
    try {
      const runId = await createTinyRun(server);
      const headers = (p: number) => ({ "signal-sequence": `client-restart:${p}` });
      expect((await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA }, headers: headers(0) })).body.step).toBe(1);
      const before = (await call(server, "GET", `/v1/runs/${runId}`)).body;
      expect((await call(server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ text: "abc" }] }, headers: headers(1) })).status).toBe(200);
      expect((await call(server, "GET", `/v1/runs/${runId}`)).body).toEqual(before);
      await server.close();
      server = await startTestServer(engine, { dataDir, sequenceHoldMs: 300 });
      const after = await call(server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA }, headers: headers(2) });
      expect(after.body.step).toBe(2);
    } finally {
      await server.dispose();
      await engine.close();
    }
  });
});
