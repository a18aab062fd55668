import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineCore, type HfCompute } from "../../src/server/engine/engine-core.js";
import type { RunConfig } from "../../src/server/engine/types.js";
import { TINY_LLAMA3, writeHfCheckpoint } from "../helpers/hf-checkpoint.js";

// cispo and linear on a Hugging Face checkpoint, on both compute paths: the fast one (ONNX
// Runtime, its loss and gradient written out row by row in hf-fast-train.ts) and tfjs's
// (`policyLoss` / the cross-entropy op). cispo's loss against a float64 hand computation from
// `forward`'s logprobs, its gradient as importance_sampling's with clip-scaled advantages;
// linear with A = 1/N as cross_entropy on unit weights, to the bit.

const COMPUTES = ["onnxruntime", "tfjs"] as const satisfies readonly HfCompute[];
let root: string;
const cores = {} as Record<(typeof COMPUTES)[number], EngineCore>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "hf-cispo-"));
  await writeHfCheckpoint(join(root, "tiny"), { ...TINY_LLAMA3, seed: 31 });
  for (const hfCompute of COMPUTES) cores[hfCompute] = await EngineCore.create({ models: [{ path: join(root, "tiny"), id: "tiny" }], hfCompute });
}, 120_000);
afterAll(async () => {
  for (const c of Object.values(cores)) c.dispose();
  if (root) await rm(root, { recursive: true, force: true });
});

const config: RunConfig = {
  base_model: "tiny",
  lora_r: 4,
  lora_alpha: 8,
  target_modules: ["q_proj", "v_proj", "up_proj"],
  learning_rate: 0.05,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weight_decay: 0,
  seed: 2,
};
const tokens = [128000, 791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13];
const N = tokens.length - 1;
const clip = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe.each(COMPUTES)("on %s", (hfCompute) => {
  it("cispo: loss by hand; gradient importance_sampling's with A·clip(r)/r, ratios on both sides of the clip and inside", () => {
    const core = cores[hfCompute];
    expect(core.hfCompute).toBe(hfCompute);
    core.createRun("cispo", config);
    // A step first, so every LoRA tensor carries a gradient.
    core.forwardBackward("cispo", [{ tokens }]);
    core.optimStep("cispo");
    const p = core.forward({ runId: "cispo" }, [{ tokens }]).logprobs[0]!.map((v) => v ?? 0);
    const ratioCycle = [0.5, 1, 1.6, 0.95, 3, 0.7];
    const advantages = tokens.map((_, t) => (t === 0 ? 0 : t % 3 === 0 ? -0.9 : 1.1));
    const logprobs = p.map((v, t) => (t === 0 ? 0 : Math.min(0, v - Math.log(ratioCycle[t % ratioCycle.length]!))));
    const r = p.map((v, t) => Math.exp(v - logprobs[t]!));
    const [low, high] = [0.8, 1.25];
    expect(r.slice(1).some((x) => x < low) && r.slice(1).some((x) => x > high) && r.slice(1).some((x) => x > low && x < high)).toBe(true);
    let want = 0;
    for (let t = 1; t < tokens.length; t++) want -= (clip(r[t]!, low, high) * advantages[t]! * p[t]!) / N;
    const got = core.forwardBackward("cispo", [{ tokens, logprobs, advantages }], { loss_fn: "cispo", clip_low_threshold: low, clip_high_threshold: high });
    expect(relative(got.loss, want)).toBeLessThan(1e-4);
    const scaled = advantages.map((a, t) => (t === 0 ? 0 : (a * clip(r[t]!, low, high)) / r[t]!));
    const is = core.forwardBackward("cispo", [{ tokens, logprobs, advantages: scaled }], { loss_fn: "importance_sampling" });
    expect(relative(got.grad_norm, is.grad_norm)).toBeLessThan(1e-4);
    const plain = core.forwardBackward("cispo", [{ tokens, logprobs, advantages }], { loss_fn: "importance_sampling" });
    expect(relative(plain.grad_norm, is.grad_norm)).toBeGreaterThan(1e-2);
    core.dropRun("cispo");
  });

  it("linear with A = 1/N trains as cross_entropy on the same tokens, to the bit", () => {
    const core = cores[hfCompute];
    core.createRun("ce", config);
    core.createRun("linear", config);
    for (let step = 0; step < 2; step++) {
      const ce = core.forwardBackward("ce", [{ tokens }]);
      const linear = core.forwardBackward("linear", [{ tokens, advantages: tokens.map((_, t) => (t === 0 ? 0 : 1 / N)) }], { loss_fn: "linear" });
      expect(linear.grad_norm).toBe(ce.grad_norm);
      expect(linear.loss).toBe(ce.loss);
      expect(linear.num_tokens).toBe(N);
      core.optimStep("ce");
      core.optimStep("linear");
    }
    expect(core.exportState("linear").adapter).toEqual(core.exportState("ce").adapter);
    core.dropRun("ce");
    core.dropRun("linear");
  });
});
