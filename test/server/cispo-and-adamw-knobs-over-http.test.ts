import { describe, expect, it } from "vitest";
import { readSafetensors } from "../../src/server/engine/safetensors.js";
import { QA, call, createTinyRun, useTestServer } from "./helpers.js";

// cispo and optim_step's AdamW hyper-parameters against the local server over HTTP.

const fixture = useTestServer();

const tokens = [256, ...new TextEncoder().encode("1+2=3, 4+5=9")];

async function forwardLogprobs(runId: string): Promise<number[]> {
  const fwd = await call(fixture.server, "POST", `/v1/runs/${runId}/forward`, { body: { batch: [{ tokens }] } });
  return (fwd.body.logprobs[0] as (number | null)[]).map((v) => v ?? 0);
}

async function forwardBackward(runId: string, body: unknown): Promise<{ loss: number; grad_norm: number; num_tokens: number }> {
  const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  return reply.body;
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe("cispo over HTTP", () => {
  it("its loss is -Σ clip(r)·A·p / N by hand, and its gradient importance_sampling's with A scaled by clip(r)/r, on both sides of the clip and inside", async () => {
    const runId = await createTinyRun(fixture.server);
    await call(fixture.server, "POST", `/v1/runs/${runId}/train_step`, { body: { batch: QA } });
    const p = await forwardLogprobs(runId);
    // Ratios below the clip (0.5, 0.7), inside (0.9, 1, 1.1) and above it (1.5, 3), advantages of both signs.
    const ratioCycle = [0.5, 1, 1.5, 0.9, 3, 0.7, 1.1];
    const ratios = tokens.map((_, t) => (t === 0 ? 1 : ratioCycle[t % ratioCycle.length]!));
    const advantages = tokens.map((_, t) => (t === 0 ? 0 : t % 3 === 0 ? -0.8 : 1.3 - 0.1 * t));
    const logprobs = p.map((v, t) => (t === 0 ? 0 : Math.min(0, v - Math.log(ratios[t]!))));
    // The ratio the server sees, in float64 from its own logprobs (a clamped q changes it).
    const r = p.map((v, t) => Math.exp(v - logprobs[t]!));
    const [low, high] = [0.8, 1.2];
    const clip = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
    const N = tokens.length - 1;
    let want = 0;
    for (let t = 1; t < tokens.length; t++) want -= (clip(r[t]!, low, high) * advantages[t]! * p[t]!) / N;
    const cispo = await forwardBackward(runId, {
      batch: [{ tokens, logprobs, advantages }],
      loss_fn: "cispo",
      loss_fn_config: { clip_low_threshold: low, clip_high_threshold: high },
    });
    expect(cispo.num_tokens).toBe(N);
    expect(relative(cispo.loss, want)).toBeLessThan(1e-4);
    // dloss/dp = -clip(r)·A/N: importance_sampling's (-r·A'/N) with A' = A·clip(r)/r.
    const scaled = advantages.map((a, t) => (t === 0 ? 0 : (a * clip(r[t]!, low, high)) / r[t]!));
    const is = await forwardBackward(runId, { batch: [{ tokens, logprobs, advantages: scaled }], loss_fn: "importance_sampling" });
    expect(relative(cispo.grad_norm, is.grad_norm)).toBeLessThan(1e-4);
    // The clip matters here: unscaled importance_sampling has another gradient.
    const plain = await forwardBackward(runId, { batch: [{ tokens, logprobs, advantages }], loss_fn: "importance_sampling" });
    expect(relative(plain.grad_norm, is.grad_norm)).toBeGreaterThan(1e-2);

    // The defaults, 0 and 4: a ratio of 6 counts as 4; a ratio of 0.05 stays as it is.
    const wide = tokens.map((_, t) => (t === 0 ? 1 : t % 2 ? 6 : 0.05));
    const q2 = p.map((v, t) => (t === 0 ? 0 : Math.min(0, v - Math.log(wide[t]!))));
    const r2 = p.map((v, t) => Math.exp(v - q2[t]!));
    let want2 = 0;
    for (let t = 1; t < tokens.length; t++) want2 -= (clip(r2[t]!, 0, 4) * advantages[t]! * p[t]!) / N;
    const byDefault = await forwardBackward(runId, { batch: [{ tokens, logprobs: q2, advantages }], loss_fn: "cispo" });
    expect(relative(byDefault.loss, want2)).toBeLessThan(1e-4);
    const scaled2 = advantages.map((a, t) => (t === 0 ? 0 : (a * clip(r2[t]!, 0, 4)) / r2[t]!));
    const is2 = await forwardBackward(runId, { batch: [{ tokens, logprobs: q2, advantages: scaled2 }], loss_fn: "importance_sampling" });
    expect(relative(byDefault.grad_norm, is2.grad_norm)).toBeLessThan(1e-4);
  });

  it("bad thresholds are a 400 naming loss_fn_config, before any work", async () => {
    const runId = await createTinyRun(fixture.server);
    const example = { tokens, logprobs: tokens.map(() => -1), advantages: tokens.map(() => 1) };
    const before = (await call(fixture.server, "GET", `/v1/runs/${runId}`)).body;
    // Out of the schema's ranges (a 422 from the schema) and not straddling 1 (a 400 from the loss's own check).
    const cases: [object, number][] = [
      [{ clip_low_threshold: 0.5, clip_high_threshold: 0.9 }, 422],
      [{ clip_low_threshold: -0.1 }, 422],
      [{ clip_high_threshold: 101 }, 422],
      [{ clip_low_threshold: 1, clip_high_threshold: 1 }, 400],
    ];
    for (const [config, status] of cases) {
      const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, {
        body: { batch: [example], loss_fn: "cispo", loss_fn_config: config },
      });
      expect(reply.status, JSON.stringify(config)).toBe(status);
      expect(reply.body.error.param).toMatch(/^loss_fn_config/);
    }
    expect((await call(fixture.server, "GET", `/v1/runs/${runId}`)).body).toEqual(before);
  });
});

describe("optim_step's AdamW hyper-parameters over HTTP", () => {
  async function adapter(runId: string): Promise<Map<string, Float32Array>> {
    const saved = await call(fixture.server, "POST", `/v1/runs/${runId}/checkpoints`, { body: { mode: "adapter" } });
    const bytes = await fetch(`${fixture.server.url}/v1/runs/${runId}/checkpoints/${saved.body.step}/content`, {
      headers: { authorization: `Bearer ${fixture.server.key}` },
    });
    const file = readSafetensors(new Uint8Array(await bytes.arrayBuffer()));
    return new Map([...file.tensors].map(([name, t]) => [name, t.data]));
  }
  const stepWith = async (runId: string, batch: unknown, body: Record<string, number>) => {
    await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch } });
    const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/optim_step`, { body });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  };
  const O1 = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0 };
  const O2 = { beta1: 0.5, beta2: 0.8, eps: 1e-3, weight_decay: 0.25 };

  it("step 1's weight decay shrinks each lora_A (no gradient yet) by lr·wd, by hand", async () => {
    const runId = await createTinyRun(fixture.server, { optimizer: O1 });
    const before = await adapter(runId);
    await stepWith(runId, QA, { learning_rate: 0.1, weight_decay: 0.3 });
    const after = await adapter(runId);
    let checked = 0;
    for (const [name, a] of before) {
      if (!name.includes("lora_A")) continue;
      after.get(name)!.forEach((v, k) => expect(v).toBe(Math.fround(a[k]! - 0.1 * 0.3 * a[k]!)));
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("per-step values override the run's optimizer for that step only", async () => {
    // X: run-level O1, step 1 with O2, step 2 plain. Y: run-level O2, step 1 plain, step 2 with O1.
    const x = await createTinyRun(fixture.server, { optimizer: O1 });
    const y = await createTinyRun(fixture.server, { optimizer: O2 });
    const z = await createTinyRun(fixture.server, { optimizer: O1 });
    await stepWith(x, QA.slice(0, 2), O2);
    await stepWith(y, QA.slice(0, 2), {});
    await stepWith(z, QA.slice(0, 2), {});
    await stepWith(x, QA.slice(2), {});
    await stepWith(y, QA.slice(2), O1);
    await stepWith(z, QA.slice(2), {});
    const [ax, ay, az] = [await adapter(x), await adapter(y), await adapter(z)];
    for (const [name, v] of ax) expect(Buffer.from(v.buffer).equals(Buffer.from(ay.get(name)!.buffer)), name).toBe(true);
    // Without the overrides the run trains otherwise.
    expect([...ax].some(([name, v]) => !Buffer.from(v.buffer).equals(Buffer.from(az.get(name)!.buffer)))).toBe(true);
  });

  it("train_step takes the same per-step values as optim_step", async () => {
    const u = await createTinyRun(fixture.server, { optimizer: O1 });
    const v = await createTinyRun(fixture.server, { optimizer: O1 });
    const reply = await call(fixture.server, "POST", `/v1/runs/${u}/train_step`, { body: { batch: QA, ...O2 } });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    await stepWith(v, QA, O2);
    const [au, av] = [await adapter(u), await adapter(v)];
    for (const [name, x] of au) expect(Buffer.from(x.buffer).equals(Buffer.from(av.get(name)!.buffer)), name).toBe(true);
    const plain = await createTinyRun(fixture.server, { optimizer: O1 });
    await stepWith(plain, QA, {});
    const ap = await adapter(plain);
    expect([...au].some(([name, x]) => !Buffer.from(x.buffer).equals(Buffer.from(ap.get(name)!.buffer)))).toBe(true);
  });

  it("an out-of-range value is a 422 naming it", async () => {
    const runId = await createTinyRun(fixture.server);
    await call(fixture.server, "POST", `/v1/runs/${runId}/forward_backward`, { body: { batch: QA } });
    for (const [field, value] of [
      ["beta1", 1],
      ["beta2", -0.1],
      ["eps", 0],
      ["weight_decay", 2],
    ] as const) {
      const reply = await call(fixture.server, "POST", `/v1/runs/${runId}/optim_step`, { body: { [field]: value } });
      expect(reply.status).toBe(422);
      expect(reply.body.error.param).toBe(field);
    }
  });
});
