import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignalClient, type TrainingClient } from "../../src/index.js";
import { freePort } from "../helpers/free-port.js";
import { RUN_PARAMS, batchAt, mismatches, outcomeOf } from "./helpers.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const KEY = "sk-fault-crash";

/** One `signal serve` process; `output` collects what every incarnation printed. */
interface Incarnation {
  child: ChildProcess;
  exited: Promise<void>;
}

let dataDir: string;
let port: number;
let output = "";
let current: Incarnation;
let restarting: Promise<void> = Promise.resolve();
let restarts = 0;
const spawned: ChildProcess[] = [];

/** Starts `signal serve` (from source) on the fixed port and data dir; resolves once it listens. */
async function serve(): Promise<Incarnation> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", `${root}test/faults/serve-from-source.ts`, "serve", "--port", String(port), "--data-dir", dataDir, "--api-key", KEY, "--workers", "1"],
    {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  spawned.push(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let mine = "";
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      mine += chunk.toString();
      if (mine.includes(`listening on http://127.0.0.1:${port}`)) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then(() => reject(new Error(`signal serve exited before listening:\n${mine}`)));
  });
  return { child, exited };
}

/** SIGKILLs the server, waits until it is gone, and starts the next one in the background. */
async function crash(): Promise<void> {
  await restarting;
  current.child.kill("SIGKILL");
  await current.exited;
  restarts++;
  restarting = serve().then((next) => {
    current = next;
  });
}

/** Where a kill lands relative to one request. */
type When = "before" | "after-applied" | "in-flight";
interface Kill {
  operation: "train_step" | "forward_backward" | "optim_step";
  /** The n-th call of that operation (1-based, by Idempotency-Key: retries are not counted). */
  nth: number;
  when: When;
  /** The Idempotency-Key of that call, once it was seen. */
  key?: string;
  fired?: boolean;
}

/**
 * The fetch the SDK client goes through: on the planned call it kills the server before
 * sending it (connection refused until the restart), after the server answered it with a 200
 * (the step is applied and durable, the client never hears; with calls pipelined, the first
 * attempt that gets one), or a few ms after sending it (anywhere in the step).
 */
function crashingFetch(kills: Kill[]): (request: Request) => Promise<Response> {
  const calls = new Map<string, Set<string>>();
  return async (request) => {
    const operation = new URL(request.url).pathname.split("/").at(-1)!;
    const keys = calls.get(operation) ?? new Set<string>();
    calls.set(operation, keys);
    const key = request.headers.get("idempotency-key") ?? "";
    if (!keys.has(key)) {
      keys.add(key);
      const planned = kills.find((k) => k.key === undefined && k.operation === operation && k.nth === keys.size);
      if (planned) planned.key = key;
    }
    const kill = kills.find((k) => !k.fired && k.key === key);
    if (!kill) return fetch(request);
    if (kill.when !== "after-applied") kill.fired = true;
    if (kill.when === "before") {
      await crash();
      return fetch(request);
    }
    if (kill.when === "in-flight") {
      const response = fetch(request);
      response.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 3));
      await crash();
      return response;
    }
    const response = await fetch(request);
    if (response.status !== 200) return response;
    await response.arrayBuffer();
    kill.fired = true;
    await crash();
    throw new TypeError("fetch failed", { cause: new Error("the server died before the answer arrived") });
  };
}

/**
 * Long enough retries to outlast a restart several times over: about 2 s on a quiet machine, but
 * a restart from source (tsx compiling the server's modules) took 12–16 s on a loaded 2-core
 * one, past 40 retries of ≤ 400 ms. 150 of them wait up to ~60 s; what the test proves
 * (exactly-once through kills) does not depend on how long a restart takes.
 */
const RESILIENT = { maxRetries: 150, backoff: { initialDelay: 50, maxDelay: 400 } } as const;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "signal-fault-crash-"));
  port = await freePort();
  current = await serve();
});
afterAll(async () => {
  await restarting.catch(() => undefined);
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(dataDir, { recursive: true, force: true });
});

/** `pipelined`: every call made at once, 8 on the wire; `awaited`: one call at a time. */
type Mode = "pipelined" | "awaited";
const IN_FLIGHT: Record<Mode, number> = { pipelined: 8, awaited: 1 };

async function trainBatches(training: TrainingClient, steps: number, mode: Mode): Promise<number[]> {
  const losses: number[] = [];
  if (mode === "pipelined") return (await Promise.all(Array.from({ length: steps }, (_, i) => training.trainBatch(batchAt(3, i))))).map((r) => r.loss);
  for (let i = 0; i < steps; i++) losses.push((await training.trainBatch(batchAt(3, i))).loss);
  return losses;
}

async function trainPairs(training: TrainingClient, pairs: number, mode: Mode): Promise<number[]> {
  const losses: number[] = [];
  if (mode === "pipelined") {
    const results = await Promise.all(Array.from({ length: pairs }, (_, i) => Promise.all([training.forwardBackward(batchAt(4, i)), training.optimStep()])));
    return results.map(([fb]) => fb.loss);
  }
  for (let i = 0; i < pairs; i++) {
    losses.push((await training.forwardBackward(batchAt(4, i))).loss);
    await training.optimStep();
  }
  return losses;
}

/**
 * Runs `loop` once through kills (in `killed` mode) and once uninterrupted (in `steady` mode),
 * then compares everything the server kept: the two modes must agree bit for bit.
 */
async function compareWithUninterrupted(
  kills: Kill[],
  steps: number,
  modes: { killed: Mode; steady: Mode },
  loop: (training: TrainingClient, mode: Mode) => Promise<number[]>,
): Promise<void> {
  const crashing = new SignalClient({ strictResponseValidation: true, apiKey: KEY, baseUrl: `http://127.0.0.1:${port}`, fetch: crashingFetch(kills) });
  const direct = new SignalClient({ strictResponseValidation: true, apiKey: KEY, baseUrl: `http://127.0.0.1:${port}`, ...RESILIENT });
  try {
    const killedRun = await direct.createRun(RUN_PARAMS);
    const killedTraining = crashing.training(killedRun.run_id, { ...RESILIENT, maxInFlight: IN_FLIGHT[modes.killed] });
    const killedLosses = await loop(killedTraining, modes.killed);
    expect(kills.filter((k) => !k.fired)).toEqual([]);
    await restarting;

    const steadyRun = await direct.createRun(RUN_PARAMS);
    const steadyLosses = await loop(direct.training(steadyRun.run_id, { maxInFlight: IN_FLIGHT[modes.steady] }), modes.steady);

    expect(mismatches(killedLosses, steadyLosses)).toEqual([]);
    expect(killedTraining.getMetrics().current_step).toBe(steps);
    const killed = await outcomeOf(direct, killedRun.run_id);
    const steady = await outcomeOf(direct, steadyRun.run_id);
    expect(killed.current_step).toBe(steps);
    expect(killed.metric_steps).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    expect(mismatches(killed.metric_losses, steady.metric_losses)).toEqual([]);
    expect(Buffer.from(killed.adapter).equals(Buffer.from(steady.adapter))).toBe(true);
  } finally {
    await crashing.close();
    await direct.close();
  }
}

describe("a server SIGKILLed mid-training and restarted on the same port and data dir", () => {
  it("trainBatch, pipelined: the loop carries on and ends identical to an uninterrupted serial run", async () => {
    const kills: Kill[] = [
      { operation: "train_step", nth: 3, when: "before" },
      { operation: "train_step", nth: 6, when: "after-applied" },
      { operation: "train_step", nth: 9, when: "in-flight" },
    ];
    const before = restarts;
    await compareWithUninterrupted(kills, 12, { killed: "pipelined", steady: "awaited" }, (training, mode) => trainBatches(training, 12, mode));
    expect(restarts - before).toBe(3);
  }, 300_000); // several restarts, each up to ~16 s on a loaded machine

  it("forwardBackward + optimStep, awaited one by one: kills between and inside the pair change nothing (same as pipelined)", async () => {
    const kills: Kill[] = [
      { operation: "forward_backward", nth: 2, when: "after-applied" },
      { operation: "optim_step", nth: 3, when: "after-applied" },
      { operation: "optim_step", nth: 5, when: "before" },
      { operation: "forward_backward", nth: 7, when: "in-flight" },
    ];
    const before = restarts;
    await compareWithUninterrupted(kills, 8, { killed: "awaited", steady: "pipelined" }, (training, mode) => trainPairs(training, 8, mode));
    expect(restarts - before).toBe(4);
  }, 300_000); // several restarts, each up to ~16 s on a loaded machine

  it("no incarnation answered a 500 or logged an internal error", () => {
    expect(output).not.toMatch(/ 5\d\d [\d.]+ms /);
    expect(output).not.toMatch(/^error req_/m);
    expect(output.match(/listening on/g)?.length).toBe(restarts + 1);
  });
});
