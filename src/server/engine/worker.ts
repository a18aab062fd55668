/**
 * Worker-thread entry: one EngineCore (one wasm instance, so one core) per thread. Requests are
 * handled strictly in arrival order; every call is synchronous once the core exists, so the
 * only way to stop a sampling loop is the shared-memory abort flag it polls between steps.
 */
import { parentPort } from "node:worker_threads";
import { EngineCore } from "./engine-core.js";
import { EngineError } from "./types.js";
import type { WireError, WorkerMessage, WorkerRequest } from "./worker-protocol.js";

const port = parentPort;
if (!port) throw new Error("engine worker must run in a worker thread");

const post = (m: WorkerMessage) => port.postMessage(m);

function toWire(e: unknown): WireError {
  if (e instanceof EngineError) return { name: e.name, message: e.message, code: e.code, ...(e.param ? { param: e.param } : {}) };
  if (e instanceof Error) return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  return { name: "Error", message: String(e) };
}

let core: EngineCore;
try {
  core = await EngineCore.create();
  post({ kind: "ready" });
} catch (e) {
  post({ kind: "init_failed", error: toWire(e) });
  throw e;
}

port.on("message", (req: WorkerRequest) => {
  try {
    let value: unknown;
    if (req.method === "sample") {
      const [ref, prompts, params] = req.args as Parameters<EngineCore["sample"]>;
      const flag = req.abortFlag ? new Int32Array(req.abortFlag) : undefined;
      value = core.sample(ref, prompts, params, {
        ...(req.stream ? { onToken: (event) => post({ kind: "token", id: req.id, event }) } : {}),
        ...(flag ? { isAborted: () => Atomics.load(flag, 0) === 1 } : {}),
      });
    } else {
      const fn = (core as unknown as Record<string, (...a: unknown[]) => unknown>)[req.method];
      if (typeof fn !== "function") throw new Error(`unknown engine method ${req.method}`);
      value = fn.apply(core, req.args);
    }
    post({ kind: "result", id: req.id, value: value ?? null });
  } catch (e) {
    post({ kind: "error", id: req.id, error: toWire(e) });
  }
});
