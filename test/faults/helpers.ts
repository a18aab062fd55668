import type { Batch } from "../../src/index.js";
import type { SignalClient } from "../../src/index.js";

/** Q→A pairs the tiny model can learn; batches draw from them. */
const PAIRS = [
  { prompt: "Q: red?\nA:", completion: " apple\n" },
  { prompt: "Q: blue?\nA:", completion: " sky\n" },
  { prompt: "Q: green?\nA:", completion: " leaf\n" },
  { prompt: "Q: gold?\nA:", completion: " sun\n" },
  { prompt: "Q: white?\nA:", completion: " snow\n" },
  { prompt: "Q: black?\nA:", completion: " night\n" },
  { prompt: "Q: grey?\nA:", completion: " stone\n" },
  { prompt: "Q: pink?\nA:", completion: " rose\n" },
];

/**
 * The i-th batch of a seeded stream: 1-3 examples picked from the pairs. Batches differ from
 * step to step, so a step applied twice or skipped changes every later loss.
 */
export function batchAt(seed: number, i: number): Batch {
  let a = (seed * 0x9e3779b1 + i * 0x85ebca6b) >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const size = 1 + Math.floor(next() * 3);
  return Array.from({ length: size }, () => PAIRS[Math.floor(next() * PAIRS.length)]!);
}

/** The body of a run both the faulty and the clean loop start from. */
export const RUN_PARAMS = { base_model: "signal-byte-tiny", learning_rate: 0.01, lora_r: 4, seed: 7 } as const;

/** What the server says about a run after a loop: its step, its metric losses, its adapter bytes. */
export interface RunOutcome {
  current_step: number;
  metric_steps: number[];
  metric_losses: number[];
  adapter: Uint8Array;
}

/** Reads a run's step and metrics, saves an adapter checkpoint and downloads its bytes. */
export async function outcomeOf(client: SignalClient, runId: string): Promise<RunOutcome> {
  const metrics: { step: number; loss: number }[] = [];
  const training = client.training(runId);
  for await (const m of training.listMetrics({ limit: 100 })) metrics.push(m);
  const saved = await client.saveState(runId, { mode: "adapter" });
  const run = await client.getRun(runId);
  expectSame(saved.step, run.current_step, "checkpoint step");
  const adapter = await client.downloadCheckpoint(runId, saved.step);
  return {
    current_step: run.current_step,
    metric_steps: metrics.map((m) => m.step),
    metric_losses: metrics.map((m) => m.loss),
    adapter: new Uint8Array(adapter),
  };
}

function expectSame(a: unknown, b: unknown, what: string): void {
  if (a !== b) throw new Error(`${what}: ${String(a)} !== ${String(b)}`);
}

/** Indexes where two number arrays differ under `===` (bit-for-bit for finite floats). */
export function mismatches(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) out.push(i);
  return out;
}
