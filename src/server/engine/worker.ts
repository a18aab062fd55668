/**
 * Worker-thread entry: one EngineCore (one wasm instance, so one core) per thread. Requests are
 * taken in arrival order; every call but sampling runs to completion at once. Sample requests
 * are decoded together in rounds (continuous batching), and a request's shared-memory abort
 * flag is polled between rounds.
 */
import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { EngineCore } from "./engine-core.js";
import { EngineError, type TokenEvent } from "./types.js";
import { type WireError, WORKER_METHODS, type WorkerData, type WorkerMessage, type WorkerRequest } from "./worker-protocol.js";

const port = parentPort;
if (!port) throw new Error("engine worker must run in a worker thread");

const post = (m: WorkerMessage) => port.postMessage(m);

function toWire(e: unknown): WireError {
  if (e instanceof EngineError) return { name: e.name, message: e.message, code: e.code, ...(e.param ? { param: e.param } : {}) };
  if (e instanceof Error) return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  return { name: "Error", message: String(e) };
}

/**
 * Lowers this thread's priority by `nice` (Linux: a thread has its own nice value); elsewhere, or
 * when not permitted, nothing. The server's main thread answers every request (getHealth among
 * them) and its work is short; the engine's is long. With as many workers as cores, a busy
 * engine would otherwise take the main thread's time slices, and getHealth would wait.
 */
function yieldToMainThread(nice: number): void {
  if (nice === 0) return;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    // Relative to the priority the thread started with (a process already niced stays below).
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + nice));
  } catch {
    // Not Linux, or not permitted: keep the default priority.
  }
}
const options = (workerData ?? {}) as WorkerData;
yieldToMainThread(options.nice ?? 0);

let core: EngineCore;
try {
  core = await EngineCore.create(options);
  post({ kind: "ready" });
} catch (e) {
  post({ kind: "init_failed", error: toWire(e) });
  throw e;
}

/**
 * Sample requests join the core's continuous batch; one round of it runs per turn of the event
 * loop, so requests that arrive meanwhile (samples to join the batch, training calls, aborts)
 * are taken between decoding steps.
 */
let scheduled = false;
/** How often a worker whose sample requests cannot go on (paused, or waiting for KV memory paused ones hold) looks again. */
const PAUSED_POLL_MS = 5;
function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(pump);
}
/** One round of the continuous batch. @returns whether requests remain. */
function round(): boolean {
  try {
    return core.stepSampling();
  } catch (e) {
    // Not expected (each round catches per request); never leave a request unanswered.
    core.failSamples(e instanceof Error ? e : new Error(String(e)));
    return false;
  }
}
function pump(): void {
  scheduled = false;
  if (!round()) return;
  if (!core.samplingPaused()) {
    schedule();
    return;
  }
  // Nothing could go on: look again shortly rather than spin.
  scheduled = true;
  setTimeout(pump, PAUSED_POLL_MS);
}

port.on("message", (req: WorkerRequest) => {
  try {
    if (req.method === "sample") {
      const [ref, prompts, params] = req.args as Parameters<EngineCore["sample"]>;
      const flag = req.abortFlag ? new Int32Array(req.abortFlag) : undefined;
      const pause = req.pauseFlag ? new Int32Array(req.pauseFlag) : undefined;
      const hooks = {
        ...(req.stream ? { onToken: (event: TokenEvent) => post({ kind: "token", id: req.id, event }) } : {}),
        ...(flag ? { isAborted: () => Atomics.load(flag, 0) === 1 } : {}),
        ...(pause ? { isPaused: () => Atomics.load(pause, 0) === 1 } : {}),
      };
      core.submitSample(ref, prompts, params, hooks, (error, result) => {
        post(error ? { kind: "error", id: req.id, error: toWire(error) } : { kind: "result", id: req.id, value: result ?? null });
      });
      schedule();
      return;
    }
    if (!(WORKER_METHODS as readonly string[]).includes(req.method)) throw new Error(`unknown engine method ${req.method}`);
    // Sampling in progress gets a round before each call that blocks the thread, so a short
    // sample among long calls waits for one of them per round, not two.
    if (core.pendingSamples() > 0 && !core.samplingPaused()) round();
    // The request's args are WorkerArgs of its method (typed on the sending side).
    const fn = core[req.method] as (...args: unknown[]) => unknown;
    const value = fn.apply(core, req.args);
    post({ kind: "result", id: req.id, value: value ?? null });
  } catch (e) {
    post({ kind: "error", id: req.id, error: toWire(e) });
  }
});
