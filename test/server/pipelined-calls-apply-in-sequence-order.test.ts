import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/server/http/api-error.js";
import { CallSequencer, isRetryable } from "../../src/server/runs/call-sequencer.js";
import type { RunRecord } from "../../src/server/store/run-record.js";
import { QA, call, createTinyRun, useTestServer } from "./helpers.js";

const fixture = useTestServer({ sequenceHoldMs: 300 });
const run = (sequences?: RunRecord["sequences"]) => ({ run_id: "run_x", sequences }) as RunRecord;

describe("CallSequencer", () => {
  it("holds an early arrival until its predecessor settles, then lets it go", async () => {
    const seq = new CallSequencer(60_000);
    const order: number[] = [];
    const second = seq.turn(run(), "client-a1:1").then((t) => (order.push(1), t));
    const first = await seq.turn(run(), "client-a1:0");
    order.push(0);
    await Promise.resolve();
    expect(order).toEqual([0]);
    first.settle("settled");
    (await second).settle("settled");
    expect(order).toEqual([0, 1]);
  });

  it("a retryable failure keeps its place: the successor waits for the retry", async () => {
    const seq = new CallSequencer(60_000);
    const order: string[] = [];
    (await seq.turn(run(), "client-b1:0")).settle("retryable");
    const next = seq.turn(run(), "client-b1:1").then((t) => (order.push("1"), t));
    await Promise.resolve();
    const retry = await seq.turn(run(), "client-b1:0");
    order.push("0 again");
    retry.settle("settled");
    (await next).settle("settled");
    expect(order).toEqual(["0 again", "1"]);
  });

  it("continues from the positions a run's record kept (a restart), and refuses a settled position", async () => {
    const seq = new CallSequencer(60_000);
    const t = await seq.turn(run({ "client-c1": { next: 5, at: 0 } }), "client-c1:5");
    t.settle("settled");
    await expect(seq.turn(run(), "client-c1:3")).rejects.toMatchObject({ status: 409, code: "sequence_superseded" });
  });

  it("gives up a gap after the hold, and the late predecessor is refused", async () => {
    const seq = new CallSequencer(20);
    (await seq.turn(run(), "client-d1:1")).settle("settled");
    await expect(seq.turn(run(), "client-d1:0")).rejects.toMatchObject({ code: "sequence_superseded" });
  });

  it("clients are independent, calls without the header are not held, and a bad header is named", async () => {
    const seq = new CallSequencer(60_000);
    const a = await seq.turn(run(), "client-e1:0");
    const b = await seq.turn(run(), "client-e2:0");
    const none = await seq.turn(run(), undefined);
    expect(none.sequence).toBeUndefined();
    for (const t of [a, b, none]) t.settle("settled");
    await expect(seq.turn(run(), "short:1")).rejects.toMatchObject({ param: "Signal-Sequence" });
  });

  it("a call refused before its turn (e.g. its body is a 400) does not hold its successors", async () => {
    const seq = new CallSequencer(60_000);
    const req = {};
    const next = seq.turn(run(), "client-f1:1");
    seq.refused(run(), "client-f1:0", req, new ApiError(400, "invalid_request_error", "invalid_example", "x"));
    (await next).settle("settled");
    // a retryable refusal keeps the place
    const waiting = seq.turn(run(), "client-f1:3");
    seq.refused(run(), "client-f1:2", {}, new ApiError(503, "overloaded_error", "overloaded", "x"));
    const state = await Promise.race([waiting.then(() => "went"), Promise.resolve().then(() => "held")]);
    expect(state).toBe("held");
    (await seq.turn(run(), "client-f1:2")).settle("settled");
    (await waiting).settle("settled");
  });

  it("counts 429, 5xx and conflict_retryable as retryable, other 4xx as settled", () => {
    expect(isRetryable(new Error("boom"))).toBe(true);
    expect(isRetryable(new ApiError(503, "overloaded_error", "overloaded", "x"))).toBe(true);
    expect(isRetryable(new ApiError(409, "conflict_error", "conflict_retryable", "x"))).toBe(true);
    expect(isRetryable(new ApiError(400, "invalid_request_error", "invalid_example", "x"))).toBe(false);
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

  it("a failed call (400) does not hold the ones after it", async () => {
    const runId = await createTinyRun(fixture.server);
    const bad = call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, {
      body: { batch: [{ tokens: [256, 49], advantages: [0, 1] }] },
      headers: { "signal-sequence": "client-fail:0" },
    });
    const next = call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA }, headers: { "signal-sequence": "client-fail:1" } });
    expect((await bad).status).toBe(400);
    expect((await next).body.step).toBe(1);
  });

  it("a gap is given up after the hold: the later call applies and the late one gets 409 sequence_superseded", async () => {
    const runId = await createTinyRun(fixture.server);
    const later = await trainStep(runId, 1, `${runId}-gap-1`);
    expect(later.body.step).toBe(1);
    const late = await trainStep(runId, 0, `${runId}-gap-0`);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe("sequence_superseded");
  });
});
