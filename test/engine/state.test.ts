import { describe, expect, it } from "vitest";
import { readSafetensors } from "../../src/server/engine/safetensors.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

const batch = QA_PAIRS.slice(0, 4);
const sampleArgs = { temperature: 0.8, max_tokens: 12, seed: 5 } as const;

describe("run state", () => {
  it("exports the adapter with PEFT names and shapes, and a PEFT adapter_config", async () => {
    const core = await sharedCore();
    const state = core.createRun("peft", tinyConfig({ lora_r: 4, target_modules: ["v_proj", "q_proj"] }));
    const file = readSafetensors(state.adapter);
    expect([...file.tensors.keys()]).toContain("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight");
    expect(file.tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!.shape).toEqual([4, 64]);
    const b = file.tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")!;
    expect(b.shape).toEqual([64, 4]);
    expect(b.data.every((v) => v === 0)).toBe(true);
    expect(file.tensors.size).toBe(8);
    expect(state.adapter_config).toMatchObject({
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      r: 4,
      lora_alpha: 8,
      target_modules: ["q_proj", "v_proj"],
      base_model_name_or_path: "signal-byte-tiny",
    });
    expect(state.step).toBe(0);
    expect(state.accumulated).toBeUndefined();
  });

  it("initialises A from the seed: same seed same bytes, other seed other bytes", async () => {
    const core = await sharedCore();
    const a = core.createRun("s1", tinyConfig({ seed: 11 })).adapter;
    const b = core.createRun("s2", tinyConfig({ seed: 11 })).adapter;
    const c = core.createRun("s3", tinyConfig({ seed: 12 })).adapter;
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it("save → load reproduces loss and samples exactly", async () => {
    const core = await sharedCore();
    const config = tinyConfig();
    core.createRun("orig", config);
    for (let i = 0; i < 3; i++) core.trainStep("orig", batch);
    const state = core.exportState("orig");
    core.loadRun("copy", config, state);
    core.loadAdapter("ckpt", config, state.adapter);
    expect(core.forwardBackward("copy", batch).loss).toBe(core.forwardBackward("orig", batch).loss);
    const s1 = core.sample({ runId: "orig" }, ["Q: cat?"], sampleArgs);
    expect(core.sample({ runId: "copy" }, ["Q: cat?"], sampleArgs)).toEqual(s1);
    expect(core.sample({ adapterKey: "ckpt" }, ["Q: cat?"], sampleArgs)).toEqual(s1);
  });

  it("resuming from exported state (optimizer and accumulated gradient) continues exactly like an uninterrupted run", async () => {
    const core = await sharedCore();
    const config = tinyConfig();
    core.createRun("a", config);
    core.createRun("b", config);
    for (const id of ["a", "b"]) {
      core.trainStep(id, batch);
      core.trainStep(id, batch);
      core.forwardBackward(id, batch.slice(0, 2));
    }
    const state = core.exportState("b");
    expect(state.accumulated).toBeDefined();
    expect(state.step).toBe(2);
    core.dropRun("b");
    core.loadRun("b", config, state);
    const losses = (id: string) => {
      const out = [core.forwardBackward(id, batch.slice(2)).loss, core.optimStep(id).grad_norm];
      for (let i = 0; i < 3; i++) out.push(core.trainStep(id, batch).loss);
      return out;
    };
    expect(losses("b")).toEqual(losses("a"));
    expect(Buffer.from(core.exportState("b").adapter).equals(Buffer.from(core.exportState("a").adapter))).toBe(true);
    expect(Buffer.from(core.exportState("b").optimizer).equals(Buffer.from(core.exportState("a").optimizer))).toBe(true);
  });
});
