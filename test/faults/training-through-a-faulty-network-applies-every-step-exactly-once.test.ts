import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignalClient } from "../../src/index.js";
import { type FaultProxy, startFaultProxy } from "../helpers/fault-proxy.js";
import { useTestServer } from "../server/helpers.js";
import { RUN_PARAMS, type RunOutcome, batchAt, mismatches, outcomeOf } from "./helpers.js";

const TRAIN_STEPS = 100;
const PAIRS = 50;
const MAX_CONSECUTIVE_FAULTS = 3;

let proxy: FaultProxy;
let direct: SignalClient;
let faulty: SignalClient;
let alternating: FaultProxy;
let dropping: SignalClient;
const fixture = useTestServer();
beforeAll(async () => {
  proxy = await startFaultProxy({
    upstream: fixture.server.url,
    seed: 20240611,
    rates: { "drop-after-forward": 0.1, "503": 0.07, "429": 0.07, delay: 0.05 },
    maxConsecutiveFaults: MAX_CONSECUTIVE_FAULTS,
    retryAfterSeconds: 0,
    delayMs: 5,
  });
  direct = new SignalClient({ strictResponseValidation: true, apiKey: fixture.server.key, baseUrl: fixture.server.url });
  faulty = new SignalClient({ strictResponseValidation: true, apiKey: fixture.server.key, baseUrl: proxy.url });
  // Drops every other answer: the first attempt of each call is applied and never heard of.
  alternating = await startFaultProxy({ upstream: fixture.server.url, seed: 1, rates: { "drop-after-forward": 1 }, maxConsecutiveFaults: 1 });
  dropping = new SignalClient({
    strictResponseValidation: true,
    apiKey: fixture.server.key,
    baseUrl: alternating.url,
    backoff: { initialDelay: 5, maxDelay: 10 },
  });
});
afterAll(async () => {
  await faulty?.close();
  await dropping?.close();
  await alternating?.close();
  await direct?.close();
  await proxy?.close();
});

/**
 * 100 trainBatch calls, then 50 forwardBackward/optimStep pairs, all on one TrainingClient:
 * `pipelined`, every call made at once without awaiting (8 on the wire), or `awaited`, one at a
 * time (maxInFlight 1) as a serial loop does it.
 */
async function trainLoop(
  client: SignalClient,
  runId: string,
  mode: "pipelined" | "awaited",
): Promise<{ losses: number[]; fbLosses: number[]; steps: number[] }> {
  // More retries than the proxy's run of faults, and a tiny backoff: Retry-After 0 answers at once.
  const training = client.training(runId, {
    maxRetries: MAX_CONSECUTIVE_FAULTS + 2,
    backoff: { initialDelay: 2, maxDelay: 10 },
    maxInFlight: mode === "pipelined" ? 8 : 1,
  });
  const losses: number[] = [];
  const fbLosses: number[] = [];
  const steps: number[] = [];
  if (mode === "pipelined") {
    const results = await Promise.all(Array.from({ length: TRAIN_STEPS }, (_, i) => training.trainBatch(batchAt(1, i))));
    for (const result of results) {
      losses.push(result.loss);
      steps.push(result.step);
    }
    const pairs = await Promise.all(Array.from({ length: PAIRS }, (_, i) => Promise.all([training.forwardBackward(batchAt(2, i)), training.optimStep()])));
    for (const [fb, optim] of pairs) {
      fbLosses.push(fb.loss);
      steps.push(optim.step);
    }
  } else {
    for (let i = 0; i < TRAIN_STEPS; i++) {
      const result = await training.trainBatch(batchAt(1, i));
      losses.push(result.loss);
      steps.push(result.step);
    }
    for (let i = 0; i < PAIRS; i++) {
      fbLosses.push((await training.forwardBackward(batchAt(2, i))).loss);
      steps.push((await training.optimStep()).step);
    }
  }
  expect(training.getMetrics().loss_history).toEqual([...losses, ...fbLosses]);
  await training.close();
  return { losses, fbLosses, steps };
}

describe("training through a proxy that drops answers, throttles and sheds load", () => {
  it("pipelined through the faults, ends with the same steps, losses and adapter bytes as a fault-free serial run", async () => {
    // createRun and saveState lose their first answer: the retry must not make a second run or checkpoint.
    const faultyRun = await dropping.createRun(RUN_PARAMS);
    const viaProxy = await trainLoop(faulty, faultyRun.run_id, "pipelined");
    const saved = await dropping.saveState(faultyRun.run_id, { mode: "state" });
    expect(saved.step).toBe(TRAIN_STEPS + PAIRS);
    expect(alternating.log.map((e) => `${e.path.split("/").at(-1)} ${e.fault}`)).toEqual([
      "runs drop-after-forward",
      "runs pass",
      "checkpoints drop-after-forward",
      "checkpoints pass",
    ]);
    const cleanRun = await direct.createRun(RUN_PARAMS);
    const clean = await trainLoop(direct, cleanRun.run_id, "awaited");

    // The proxy really did its worst, to every kind of training call.
    expect(proxy.counts["drop-after-forward"]).toBeGreaterThan(5);
    expect(proxy.counts["503"]).toBeGreaterThan(5);
    expect(proxy.counts["429"]).toBeGreaterThan(5);
    expect(proxy.counts.delay).toBeGreaterThan(2);
    const droppedOn = new Set(proxy.log.filter((e) => e.fault === "drop-after-forward").map((e) => e.path.split("/").at(-1)));
    expect([...droppedOn].sort()).toEqual(["forward_backward", "optim_step", "train_step"]);
    // Pipelined for real: calls were on the wire together, each with its place in one sequence.
    expect(proxy.peakInFlight).toBeGreaterThan(1);
    const training = proxy.log.filter((e) => /(train_step|forward_backward|optim_step)$/.test(e.path));
    expect(new Set(training.map((e) => e.sequence?.split(":")[0])).size).toBe(1);
    expect(Math.max(...training.map((e) => Number(e.sequence?.split(":")[1])))).toBe(TRAIN_STEPS + 2 * PAIRS - 1);

    const total = TRAIN_STEPS + PAIRS;
    const expectedSteps = Array.from({ length: total }, (_, i) => i + 1);
    expect(viaProxy.steps).toEqual(expectedSteps);
    expect(clean.steps).toEqual(expectedSteps);
    expect(mismatches(viaProxy.losses, clean.losses)).toEqual([]);
    expect(mismatches(viaProxy.fbLosses, clean.fbLosses)).toEqual([]);

    const runs: string[] = [];
    for await (const run of direct.listRuns()) runs.push(run.run_id);
    expect(runs.sort()).toEqual([faultyRun.run_id, cleanRun.run_id].sort());
    expect((await direct.listCheckpoints(faultyRun.run_id)).data.map((c) => c.step)).toEqual([TRAIN_STEPS + PAIRS]);
    const a: RunOutcome = await outcomeOf(direct, faultyRun.run_id);
    const b: RunOutcome = await outcomeOf(direct, cleanRun.run_id);
    expect(a.current_step).toBe(total);
    expect(a.metric_steps).toEqual(expectedSteps);
    expect(b.metric_steps).toEqual(expectedSteps);
    expect(mismatches(a.metric_losses, b.metric_losses)).toEqual([]);
    expect(a.adapter.length).toBeGreaterThan(1000);
    expect(Buffer.from(a.adapter).equals(Buffer.from(b.adapter))).toBe(true);
    console.info(`fault proxy: ${JSON.stringify(proxy.counts)}; ${total} steps, losses and adapter identical`);
  });
});
