import { type LoraLayout, type LoraParams, type LoraPair, readPeftTensors, toPeftTensors } from "./lora.js";
import { requireTensor, writeSafetensors } from "./safetensors.js";
import type { RunConfig } from "./types.js";

/** AdamW moments, one `[at, bt]` pair per LoRA pair, in the pairs' layout. */
export interface AdamState {
  step: number;
  m: [Float32Array, Float32Array][];
  v: [Float32Array, Float32Array][];
}

/** Gradient sums since the last step and how many forwardBackward calls they hold. */
export interface Accumulator {
  calls: number;
  sums: [Float32Array, Float32Array][];
}

/** Fresh AdamW state (zero moments, step 0). */
export function initAdam(lora: LoraParams): AdamState {
  const zeros = (p: LoraPair): [Float32Array, Float32Array] => [new Float32Array(p.at.length), new Float32Array(p.bt.length)];
  return { step: 0, m: lora.pairs.map(zeros), v: lora.pairs.map(zeros) };
}

/** L2 norm over a list of `[at, bt]` arrays, summed in float64. */
export function l2Norm(arrays: [Float32Array, Float32Array][]): number {
  let s = 0;
  for (const pair of arrays) for (const a of pair) for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/** Hyper-parameters of one update. */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * One decoupled-weight-decay Adam update (Loshchilov & Hutter) of every LoRA tensor, in place,
 * with gradient `grads`. Math in float64, stored in float32, so it is identical everywhere.
 */
export function adamwUpdate(lora: LoraParams, state: AdamState, grads: [Float32Array, Float32Array][], h: AdamWStep): void {
  state.step += 1;
  const bc1 = 1 - h.beta1 ** state.step;
  const bc2 = 1 - h.beta2 ** state.step;
  lora.pairs.forEach((pair, i) => {
    const params = [pair.at, pair.bt];
    for (let j = 0; j < 2; j++) {
      const p = params[j]!;
      const g = grads[i]![j]!;
      const m = state.m[i]![j]!;
      const v = state.v[i]![j]!;
      for (let k = 0; k < p.length; k++) {
        const gk = g[k]!;
        m[k] = h.beta1 * m[k]! + (1 - h.beta1) * gk;
        v[k] = h.beta2 * v[k]! + (1 - h.beta2) * gk * gk;
        const update = m[k]! / bc1 / (Math.sqrt(v[k]! / bc2) + h.eps);
        p[k] = p[k]! - h.lr * (update + h.weightDecay * p[k]!);
      }
    }
  });
}

/** Optimizer state as safetensors: `<peft name>.exp_avg` / `.exp_avg_sq` plus a `step` scalar. */
export function exportAdam(lora: LoraParams, state: AdamState): Uint8Array {
  const idx = new Map(lora.pairs.map((p, i) => [p, i]));
  return writeSafetensors(
    [
      ...toPeftTensors(lora, (p) => state.m[idx.get(p)!]!, ".exp_avg"),
      ...toPeftTensors(lora, (p) => state.v[idx.get(p)!]!, ".exp_avg_sq"),
      ["step", { shape: [1], data: Float32Array.of(state.step) }],
    ],
    { format: "pt", optimizer: "AdamW" },
  );
}

/** Reads `exportAdam` bytes. @throws SafetensorsError on missing or misshapen tensors. */
export function importAdam(model: LoraLayout, config: RunConfig, bytes: Uint8Array): AdamState {
  const m = readPeftTensors(model, config, bytes, ".exp_avg");
  const v = readPeftTensors(model, config, bytes, ".exp_avg_sq");
  const step = requireTensor(m.file, "step", [1])[0]!;
  return { step, m: m.pairs.map((p) => [p.at, p.bt]), v: v.pairs.map((p) => [p.at, p.bt]) };
}

/** Accumulated gradient as safetensors: `<peft name>.grad_sum` plus a `calls` scalar. */
export function exportAccumulator(lora: LoraParams, acc: Accumulator): Uint8Array {
  const idx = new Map(lora.pairs.map((p, i) => [p, i]));
  return writeSafetensors([...toPeftTensors(lora, (p) => acc.sums[idx.get(p)!]!, ".grad_sum"), ["calls", { shape: [1], data: Float32Array.of(acc.calls) }]]);
}

/** Reads `exportAccumulator` bytes. @throws SafetensorsError on missing or misshapen tensors. */
export function importAccumulator(model: LoraLayout, config: RunConfig, bytes: Uint8Array): Accumulator {
  const s = readPeftTensors(model, config, bytes, ".grad_sum");
  return { calls: requireTensor(s.file, "calls", [1])[0]!, sums: s.pairs.map((p) => [p.at, p.bt]) };
}
