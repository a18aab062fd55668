import { describe, expect, it } from "vitest";
import { readSafetensors } from "../../src/server/engine/safetensors.js";
import type { OptimStepOptions, RunState } from "../../src/server/engine/types.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

// optimStep's beta1, beta2, eps and weight_decay against AdamW computed by hand in float64 from
// the engine's own state: the weights, the accumulated gradient and the moments before the step.

/** Every tensor of a safetensors file, by name, as float64 arrays. */
function tensors(bytes: Uint8Array, suffix = ""): Map<string, number[]> {
  const file = readSafetensors(bytes);
  const out = new Map<string, number[]>();
  for (const [name, t] of file.tensors) if (name.endsWith(`.weight${suffix}`)) out.set(name.slice(0, name.length - suffix.length), Array.from(t.data));
  return out;
}

/** AdamW by hand: θ ← θ − lr·wd·θ − lr·m̂/(√v̂ + eps), with m, v kept in float32 as the engine stores them. */
function adamwByHand(before: RunState, h: { lr: number; beta1: number; beta2: number; eps: number; wd: number }) {
  const theta = tensors(before.adapter);
  const grad = tensors(before.accumulated!, ".grad_sum");
  const m = tensors(before.optimizer, ".exp_avg");
  const v = tensors(before.optimizer, ".exp_avg_sq");
  const t = before.step + 1;
  const out = new Map<string, number[]>();
  for (const [name, p] of theta) {
    const g = grad.get(name)!;
    out.set(
      name,
      p.map((pk, k) => {
        const mk = Math.fround(h.beta1 * m.get(name)![k]! + (1 - h.beta1) * g[k]!);
        const vk = Math.fround(h.beta2 * v.get(name)![k]! + (1 - h.beta2) * g[k]! * g[k]!);
        const mHat = mk / (1 - h.beta1 ** t);
        const vHat = vk / (1 - h.beta2 ** t);
        return pk - h.lr * h.wd * pk - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
      }),
    );
  }
  return out;
}

function expectClose(got: Map<string, number[]>, want: Map<string, number[]>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  let worst = 0;
  let moved = 0;
  for (const [name, w] of want) {
    got.get(name)!.forEach((g, k) => {
      worst = Math.max(worst, Math.abs(g - w[k]!) / Math.max(1e-6, Math.abs(w[k]!)));
      if (w[k] !== 0) moved++;
    });
  }
  expect(moved).toBeGreaterThan(0);
  // float32 storage of the weights: a relative error of a few ulps.
  expect(worst).toBeLessThan(1e-6);
}

describe("optimStep's AdamW hyper-parameters", () => {
  it("two steps with per-step beta1, beta2, eps and weight_decay equal AdamW by hand; the run's own values apply when none are given", async () => {
    const core = await sharedCore();
    // The run's defaults differ from every per-step value, so a value left unapplied shows.
    const config = tinyConfig({ learning_rate: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 });
    core.createRun("adamw", config);
    const steps: OptimStepOptions[] = [
      { beta1: 0.5, beta2: 0.75, eps: 0.001, weight_decay: 0.2 },
      { beta1: 0.8, beta2: 0.9, eps: 0.01, weight_decay: 0.1, learning_rate: 0.03 },
      {},
    ];
    for (const [i, options] of steps.entries()) {
      core.forwardBackward("adamw", [QA_PAIRS[i]!, QA_PAIRS[i + 3]!]);
      const before = core.exportState("adamw");
      core.optimStep("adamw", options);
      const after = core.exportState("adamw");
      const want = adamwByHand(before, {
        lr: options.learning_rate ?? config.learning_rate,
        beta1: options.beta1 ?? config.beta1,
        beta2: options.beta2 ?? config.beta2,
        eps: options.eps ?? config.eps,
        wd: options.weight_decay ?? config.weight_decay,
      });
      expectClose(tensors(after.adapter), want);
    }
  });

  it("weight decay alone: a tensor with no gradient shrinks by lr·wd exactly", async () => {
    const core = await sharedCore();
    core.createRun("decay", tinyConfig({ weight_decay: 0 }));
    // B starts at zero, so at step 1 every A has a zero gradient: only the decay moves it.
    core.forwardBackward("decay", [QA_PAIRS[0]!]);
    const before = tensors(core.exportState("decay").adapter);
    core.optimStep("decay", { learning_rate: 0.1, weight_decay: 0.3 });
    const after = tensors(core.exportState("decay").adapter);
    for (const [name, a] of before) {
      if (!name.includes("lora_A")) continue;
      after.get(name)!.forEach((v, k) => expect(v).toBe(Math.fround(a[k]! - 0.1 * (0 + 0.3 * a[k]!))));
    }
  });
});
