import { EngineCore } from "../../src/server/engine/engine-core.js";
import type { RunConfig } from "../../src/server/engine/types.js";

/** A run config on the tiny model; override what a test cares about. */
export function tinyConfig(overrides: Partial<RunConfig> = {}): RunConfig {
  return {
    base_model: "signal-byte-tiny",
    lora_r: 4,
    lora_alpha: 8,
    target_modules: ["q_proj", "v_proj"],
    learning_rate: 1e-2,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weight_decay: 0.01,
    seed: 3,
    ...overrides,
  };
}

let core: Promise<EngineCore> | undefined;

/** One in-thread core per test file (tfjs and the base models load once). */
export function sharedCore(): Promise<EngineCore> {
  core ??= EngineCore.create();
  return core;
}

/** Short question → answer pairs the base model has never seen. */
export const QA_PAIRS = [
  ["cat", "meow"],
  ["dog", "woof"],
  ["sun", "day"],
  ["sea", "wave"],
  ["red", "rose"],
  ["big", "huge"],
  ["old", "aged"],
  ["hot", "fire"],
].map(([q, a]) => ({ prompt: `Q: ${q}?\nA:`, completion: ` ${a}` }));
