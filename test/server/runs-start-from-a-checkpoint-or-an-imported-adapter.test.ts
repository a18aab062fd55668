import { describe, expect, it } from "vitest";
import { BadRequestError, SignalClient, type SignalRun, ValidationError } from "../../src/index.js";
import { readSafetensors, writeSafetensors } from "../../src/server/engine/index.js";
import { QA, call, useTestClient, useTestServer } from "./helpers.js";

// A run started from saved state computes exactly as its source did at the checkpoint: the
// same `forward` logprobs to the bit, and (from a `state` checkpoint) the same next step.

const fixture = useTestServer();
const sdk = useTestClient(fixture, { maxRetries: 0 });
const SHAPE = { base_model: "signal-byte-tiny", lora_r: 4, lora_alpha: 8, target_modules: ["q_proj", "k_proj", "v_proj"] as const };

/** Two steps, a checkpoint (`mode`) at step 2, a third step and an adapter checkpoint at 3. */
async function trainedSource(mode: "state" | "adapter" = "state"): Promise<SignalRun> {
  const run = await sdk.client.createRun({ ...SHAPE, target_modules: [...SHAPE.target_modules], learning_rate: 0.02, seed: 3 });
  await run.trainBatch(QA);
  await run.trainBatch(QA);
  await run.saveState({ mode });
  await run.trainBatch(QA.slice(1));
  await run.saveState({ mode: "adapter" });
  return run;
}

describe("createRun({ from_checkpoint })", () => {
  it("starts at the checkpoint's step with its adapter: forward equals the source's at that checkpoint, bit for bit", async () => {
    const source = await trainedSource();
    const run = await sdk.client.createRun({ from_checkpoint: { run_id: source.run_id, step: 2 } });
    expect(run.run_id).not.toBe(source.run_id);
    expect([run.base_model, run.lora_r, run.lora_alpha, run.target_modules, run.learning_rate, run.seed]).toEqual([
      source.base_model,
      4,
      8,
      ["q_proj", "k_proj", "v_proj"],
      0.02,
      3,
    ]);
    expect(run.current_step).toBe(2);
    const theirs = await source.forward(QA, { step: 2 });
    const ours = await run.forward(QA);
    expect(ours.logprobs).toEqual(theirs.logprobs);
    expect(ours.loss).toBe(theirs.loss);
    // The source's live weights (step 3) differ, so equality above is the checkpoint's.
    expect((await source.forward(QA)).logprobs).not.toEqual(ours.logprobs);
  });

  it("carries the optimizer of a state checkpoint: the next step equals the source's from a restore", async () => {
    const source = await trainedSource();
    const fromState = await sdk.client.createRun({ from_checkpoint: { run_id: source.run_id, step: 2 } });
    await source.restoreCheckpoint(2);
    const expected = await source.trainBatch(QA.slice(2));
    const got = await fromState.trainBatch(QA.slice(2));
    expect([got.step, got.loss, got.grad_norm]).toEqual([expected.step, expected.loss, expected.grad_norm]);
    expect((await fromState.forward(QA)).logprobs).toEqual((await source.forward(QA)).logprobs);
    expect(await fromState.downloadCheckpoint(2).catch(() => "none")).toBe("none");
    // The same weights at step 2 saved as an adapter checkpoint start with fresh moments: the
    // same loss, another update. So the equality above needed the optimizer state.
    const twin = await trainedSource("adapter");
    const fromAdapter = await sdk.client.createRun({ from_checkpoint: { run_id: twin.run_id, step: 2 } });
    expect((await fromAdapter.forward(QA)).logprobs).toEqual((await source.forward(QA, { step: 2 })).logprobs);
    const fresh = await fromAdapter.trainBatch(QA.slice(2));
    expect(fresh.loss).toBe(expected.loss);
    expect((await fromAdapter.forward(QA)).logprobs).not.toEqual((await fromState.forward(QA)).logprobs);
  });

  it("inherits base model and LoRA shape; a conflicting explicit value is a 400 naming the field, an equal one is fine", async () => {
    const source = await trainedSource();
    const from = { run_id: source.run_id, step: 2 };
    for (const [field, value] of [
      ["base_model", "signal-byte-base"],
      ["lora_r", 8],
      ["lora_alpha", 16],
      ["target_modules", ["q_proj", "v_proj"]],
    ] as const) {
      const reply = await call(fixture.server, "POST", "/v1/runs", { body: { from_checkpoint: from, [field]: value } });
      expect(reply.status, field).toBe(400);
      expect(reply.body.error.code).toBe("invalid_request");
      expect(reply.body.error.param).toBe(field);
      expect(reply.body.error.message).toContain(source.run_id);
    }
    const same = await call(fixture.server, "POST", "/v1/runs", {
      body: { from_checkpoint: from, base_model: "signal-byte-tiny", lora_r: 4, target_modules: ["v_proj", "q_proj", "k_proj"], learning_rate: 0.001 },
    });
    expect(same.status).toBe(201);
    expect(same.body.learning_rate).toBe(0.001);
  });

  it("takes only this key's existing checkpoints: another key's run is a 404 like a missing one", async () => {
    const source = await trainedSource();
    const theirs = await call(fixture.server, "POST", "/v1/runs", { key: "sk-test-b", body: { from_checkpoint: { run_id: source.run_id, step: 2 } } });
    expect(theirs.status).toBe(404);
    expect([theirs.body.error.code, theirs.body.error.param]).toEqual(["run_not_found", "from_checkpoint.run_id"]);
    const missing = await call(fixture.server, "POST", "/v1/runs", { body: { from_checkpoint: { run_id: source.run_id, step: 7 } } });
    expect([missing.status, missing.body.error.code, missing.body.error.param]).toEqual([404, "checkpoint_not_found", "from_checkpoint.step"]);
    const neither = await call(fixture.server, "POST", "/v1/runs", { body: { lora_r: 4 } });
    expect([neither.status, neither.body.error.param]).toEqual([422, "base_model"]);
  });

  it("without base_model or from_checkpoint is a ValidationError from the SDK naming base_model, before anything is sent", async () => {
    const sent: string[] = [];
    const client = new SignalClient({
      apiKey: fixture.server.key,
      baseUrl: fixture.server.url,
      maxRetries: 0,
      fetch: (request) => {
        sent.push(request.url);
        return fetch(request);
      },
    });
    try {
      const error = await client.createRun({ lora_r: 4, seed: 1 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect(error).toMatchObject({ message: "createRun: base_model: required unless from_checkpoint is given", path: "base_model" });
      expect(sent).toEqual([]);
      // A bad field still names itself first when base_model is there; either key alone goes out.
      await expect(client.createRun({ base_model: "signal-byte-tiny", lora_r: 0 })).rejects.toMatchObject({ path: "lora_r" });
      expect(sent).toEqual([]);
      await client.createRun({ base_model: "signal-byte-tiny", lora_r: 4 });
      expect(sent).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});

describe("importAdapter", () => {
  it("loads a downloaded PEFT adapter into a fresh run of the same shape: forward equals the source's, bit for bit", async () => {
    const source = await trainedSource();
    const bytes = await source.downloadCheckpoint(2);
    const run = await sdk.client.createRun({ ...SHAPE, target_modules: ["v_proj", "q_proj", "k_proj"] });
    const before = await run.forward(QA);
    const imported = await run.importAdapter(bytes);
    expect(imported.current_step).toBe(0);
    const ours = await run.forward(QA);
    expect(ours.logprobs).toEqual((await source.forward(QA, { step: 2 })).logprobs);
    expect(ours.logprobs).not.toEqual(before.logprobs);
    // It trains on from there like any run.
    expect((await run.trainBatch(QA)).step).toBe(1);
  });

  it("loads an adapter saved in BF16 or F16 (as PEFT saves one trained in half precision), widened exactly", async () => {
    const source = await trainedSource();
    const file = readSafetensors(await source.downloadCheckpoint(2));
    for (const dtype of ["BF16", "F16"] as const) {
      // The source's values rounded to the half type: as float32 and as the half type itself.
      const rounded = new Map([...file.tensors].map(([name, t]) => [name, { shape: t.shape, data: roundTo(dtype, t.data) }]));
      const asFloat32 = await sdk.client.createRun({ ...SHAPE, target_modules: ["v_proj", "q_proj", "k_proj"] });
      const asHalf = await sdk.client.createRun({ ...SHAPE, target_modules: ["v_proj", "q_proj", "k_proj"] });
      await asFloat32.importAdapter(writeSafetensors(rounded));
      await asHalf.importAdapter(writeHalfSafetensors(dtype, rounded));
      const half = await asHalf.forward(QA);
      expect(half.logprobs, dtype).toEqual((await asFloat32.forward(QA)).logprobs);
      // Rounding moved the weights: the comparison is not that of two untouched runs.
      expect(half.logprobs).not.toEqual((await source.forward(QA, { step: 2 })).logprobs);
    }
  });

  it("refuses an adapter of another r or other target modules with a 400 naming the tensor", async () => {
    const source = await trainedSource();
    const bytes = await source.downloadCheckpoint(2);
    const cases = [
      [{ lora_r: 8 }, /tensor base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight has shape \[4, \d+\].*need \[8, \d+\]/],
      [{ target_modules: ["q_proj", "v_proj"] }, /tensor base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight is not one of the run's/],
      [
        { target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"] },
        /tensor base_model\.model\.model\.layers\.0\.self_attn\.o_proj\.lora_A\.weight is missing/,
      ],
    ] as const;
    for (const [shape, message] of cases) {
      const run = await sdk.client.createRun({ ...SHAPE, target_modules: [...SHAPE.target_modules], ...shape } as Parameters<typeof sdk.client.createRun>[0]);
      const error = await run.importAdapter(bytes).catch((e: unknown) => e);
      expect(error, JSON.stringify(shape)).toBeInstanceOf(BadRequestError);
      expect((error as BadRequestError).code).toBe("invalid_adapter");
      expect((error as BadRequestError).message).toMatch(message);
    }
    // A file that is not F32 safetensors, and text that is not base64.
    const fresh = await sdk.client.createRun({ ...SHAPE, target_modules: [...SHAPE.target_modules] });
    const file = readSafetensors(bytes);
    const [firstName] = [...file.tensors.keys()];
    const garbage = await fresh.importAdapter(new Uint8Array([1, 2, 3])).catch((e: unknown) => e);
    expect((garbage as BadRequestError).code).toBe("invalid_adapter");
    const notBase64 = await call(fixture.server, "POST", `/v1/runs/${fresh.run_id}/adapter`, { body: { adapter: "not base64!" } });
    expect([notBase64.status, notBase64.body.error.code, notBase64.body.error.param]).toEqual([400, "invalid_adapter", "adapter"]);
    // Extra tensors beyond the run's, even with every one of its own present.
    const extra = writeSafetensors([...file.tensors, [`${firstName}.extra`, { shape: [1], data: Float32Array.of(0) }]]);
    expect(((await fresh.importAdapter(extra).catch((e: unknown) => e)) as BadRequestError).message).toContain(`${firstName}.extra`);
    // Nothing was loaded by the refusals: the run still imports the right file.
    expect((await fresh.importAdapter(bytes)).current_step).toBe(0);
  });

  it("takes only a fresh run: one past step 0 is a 400 naming run_id", async () => {
    const source = await trainedSource();
    const bytes = await source.downloadCheckpoint(2);
    const run = await sdk.client.createRun({ ...SHAPE, target_modules: [...SHAPE.target_modules] });
    await run.trainBatch(QA);
    const error = (await run.importAdapter(bytes).catch((e: unknown) => e)) as BadRequestError;
    expect([error.status, error.code, error.param]).toEqual([400, "invalid_request", "run_id"]);
  });
});

/** Values rounded to the nearest BF16 or F16 value (ties to even), as float32. */
function roundTo(dtype: "BF16" | "F16", data: Float32Array): Float32Array {
  if (dtype === "F16") return Float32Array.from(data, (v) => Math.fround(f16ToNumber(numberToF16(v))));
  const bits = new Uint32Array(Float32Array.from(data).buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = toBf16Bits(bits[i]!) << 16;
  return new Float32Array(bits.buffer);
}

function toBf16Bits(f32: number): number {
  return ((f32 + 0x7fff + ((f32 >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Float to IEEE half (finite, normal range: the trained adapter's values). */
function numberToF16(v: number): number {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const exp = Math.max(-14, Math.floor(Math.log2(a)));
  const frac = Math.round(exp === -14 && a < 2 ** -14 ? a / 2 ** -24 : (a / 2 ** exp - 1) * 1024);
  if (exp === -14 && a < 2 ** -14) return sign | frac;
  return frac === 1024 ? sign | ((exp + 16) << 10) : sign | ((exp + 15) << 10) | frac;
}

function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  return exp === 0 ? sign * frac * 2 ** -24 : sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A safetensors file of BF16 or F16 tensors whose values are already representable in that type. */
function writeHalfSafetensors(dtype: "BF16" | "F16", tensors: Map<string, { shape: number[]; data: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const out = new Uint8Array(t.data.length * 2);
    const view = new DataView(out.buffer);
    const bits = new Uint32Array(Float32Array.from(t.data).buffer);
    t.data.forEach((v, i) => view.setUint16(i * 2, dtype === "BF16" ? bits[i]! >>> 16 : numberToF16(v), true));
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + out.length] };
    parts.push(out);
    offset += out.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const bytes = new Uint8Array(8 + json.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}
