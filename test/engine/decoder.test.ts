import type { Tensor2D } from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBaseSafetensors, loadBaseWeights } from "../../src/server/engine/base-weights.js";
import {
  DecodeBase,
  DecodeScratch,
  type DecodeWeights,
  forwardInto,
  forwardRows,
  forwardSequences,
  logitsOf,
  mergeLora,
  project,
} from "../../src/server/engine/decoder.js";
import { encodeBatch } from "../../src/server/engine/encode-batch.js";
import { type LoraParams, initLora } from "../../src/server/engine/lora.js";
import { MODEL_CONFIGS, byteLayout } from "../../src/server/engine/models.js";
import { Rng } from "../../src/server/engine/rng.js";
import { type Tf, loadTf } from "../../src/server/engine/tf-loader.js";
import { BOS, encodeText } from "../../src/server/engine/tokenizer.js";
import { TrainGraph } from "../../src/server/engine/train-graph.js";
import { QA_PAIRS, sharedCore, tinyConfig } from "./helpers.js";

let tf: Tf;
beforeAll(async () => {
  tf = await loadTf();
});

function randn(n: number, seed: number, std = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * std);
}

/** A LoRA adapter with non-zero B, so merging matters. */
function randomLora(modelId: string, seed: number): LoraParams {
  const mc = MODEL_CONFIGS.get(modelId)!;
  const lora = initLora(byteLayout(mc), tinyConfig({ base_model: modelId, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj"], seed }));
  lora.pairs.forEach((p, i) => p.bt.set(randn(p.bt.length, seed * 100 + i, 0.2)));
  return lora;
}

function decodeWeights(modelId: string, lora: LoraParams): { w: DecodeWeights; shared: DecodeBase } {
  const mc = MODEL_CONFIGS.get(modelId)!;
  const shared = new DecodeBase(tf, loadBaseWeights(mc, initBaseSafetensors(mc)));
  return { w: mergeLora(shared, lora), shared };
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("wasm matmul rows do not depend on the other rows", () => {
  for (const id of MODEL_CONFIGS.keys()) {
    it(`bit-identical rows for batch sizes 1..16, 40 and 300 at every position (${id} decode shapes)`, () => {
      const c = MODEL_CONFIGS.get(id)!;
      const d = c.d_model;
      const shapes: [number, number][] = [
        [d, 3 * d],
        [d, d],
        [d, c.d_ff],
        [c.d_ff, d],
        [d, c.vocab_size],
      ];
      shapes.forEach(([k, n], si) => {
        const w = tf.tensor2d(randn(k * n, si + 1, 1 / Math.sqrt(k)), [k, n]) as Tensor2D;
        const x = randn(300 * k, 50 + si);
        const ref = project(tf, x, 300, w);
        for (const m of [...Array.from({ length: 16 }, (_, i) => i + 1), 40]) {
          // rows 0..m-1, and the same rows rotated by one so each sits at another position
          const out = project(tf, x.subarray(0, m * k), m, w);
          const rotated = new Float32Array(m * k);
          for (let r = 0; r < m; r++) rotated.set(x.subarray(r * k, (r + 1) * k), ((r + 1) % m) * k);
          const outRot = project(tf, rotated, m, w);
          for (let r = 0; r < m; r++) {
            const want = bytes(ref.subarray(r * n, (r + 1) * n));
            expect(bytes(out.subarray(r * n, (r + 1) * n)).equals(want), `m=${m} row ${r}`).toBe(true);
            expect(bytes(outRot.subarray(((r + 1) % m) * n, (((r + 1) % m) + 1) * n)).equals(want), `m=${m} rotated row ${r}`).toBe(true);
          }
        }
        w.dispose();
      });
    });
  }
});

describe("the decoder's direct wasm matmul", () => {
  for (const id of MODEL_CONFIGS.keys()) {
    it(`is bit-identical to tf.matMul for every decode shape and row count, in place in its buffers (${id})`, () => {
      const c = MODEL_CONFIGS.get(id)!;
      const d = c.d_model;
      const sc = new DecodeScratch(tf, c);
      const shapes: [number, number][] = [
        [d, 3 * d],
        [d, d],
        [d, c.d_ff],
        [c.d_ff, d],
        [d, c.vocab_size],
      ];
      const before = tf.memory().numTensors;
      shapes.forEach(([k, n], si) => {
        const w = tf.tensor2d(randn(k * n, si + 7, 1 / Math.sqrt(k)), [k, n]) as Tensor2D;
        for (const [m, src] of [
          [1, "a"],
          [3, "b"],
          [17, "a"],
          [300, "b"],
        ] as const) {
          const x = randn(m * k, 90 + m + si);
          sc.reserve(m);
          const dst = src === "a" ? "b" : "a";
          sc.view().set(x, src === "a" ? sc.aOffset : sc.bOffset);
          sc.matmul(src, m, w, dst);
          const off = dst === "a" ? sc.aOffset : sc.bOffset;
          const got = sc.view().slice(off, off + m * n);
          expect(bytes(got).equals(bytes(project(tf, x, m, w))), `${k}x${n}, ${m} rows`).toBe(true);
        }
        w.dispose();
      });
      // Growing replaces the two buffers; matmuls themselves create no tensors.
      expect(tf.memory().numTensors).toBe(before + 2);
      sc.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe("decoder", () => {
  it("prefill and token-by-token decoding give bit-identical hidden states", () => {
    const { w, shared } = decodeWeights("signal-byte-tiny", randomLora("signal-byte-tiny", 3));
    const tokens = [BOS, ...encodeText("Q: cat?\nA: meow")];
    const all = forwardSequences(w, [tokens]);
    const cache = w.shared.kvPool.acquire();
    const one = tokens.map((t) => forwardRows(w, [cache], [[t]]));
    const d = w.config.d_model;
    one.forEach((h, i) => expect(h).toEqual(all.subarray(i * d, (i + 1) * d)));
    expect(cache.length).toBe(tokens.length);
    w.shared.kvPool.release(cache);
    w.dispose();
    shared.dispose();
  });

  it("a prefill keeping only each prompt's last row gives those rows' states, and caches, bit-identical to the full forward", () => {
    const { w, shared } = decodeWeights("signal-byte-base", randomLora("signal-byte-base", 5));
    const d = w.config.d_model;
    const seqs = ["Q: sun?\nA:", "x", "a longer prompt with more bytes in it"].map((t) => [BOS, ...encodeText(t)]);
    const pool = w.shared.kvPool;
    const full = seqs.map(() => pool.acquire());
    const kept = seqs.map(() => pool.acquire());
    const all = forwardRows(w, full, seqs);
    const last: number[] = [];
    let end = 0;
    for (const s of seqs) last.push((end += s.length) - 1);
    const m = forwardInto(w, kept, seqs, last);
    expect(m).toBe(seqs.length);
    const got = w.shared.scratch.view().slice(w.shared.scratch.aOffset, w.shared.scratch.aOffset + m * d);
    last.forEach((row, j) => expect(got.subarray(j * d, (j + 1) * d)).toEqual(all.subarray(row * d, (row + 1) * d)));
    // the next token decodes to the same state from either cache
    const next = seqs.map(() => [encodeText("!")[0]!]);
    expect(forwardRows(w, kept, next)).toEqual(forwardRows(w, full, next));
    for (const c of [...full, ...kept]) pool.release(c);
    w.dispose();
    shared.dispose();
  });

  it("a sequence's rows are the same whatever other sequences share the forward pass", () => {
    const { w, shared } = decodeWeights("signal-byte-tiny", randomLora("signal-byte-tiny", 4));
    const d = w.config.d_model;
    const seqs = ["hello", "Q: sun?\nA:", "x", "a longer prompt with more bytes in it"].map((t) => [BOS, ...encodeText(t)]);
    const alone = seqs.map((s) => forwardSequences(w, [s]));
    const together = forwardSequences(w, seqs);
    let off = 0;
    seqs.forEach((s, i) => {
      expect(together.subarray(off * d, (off + s.length) * d)).toEqual(alone[i]);
      off += s.length;
    });
    w.dispose();
    shared.dispose();
  });

  for (const id of MODEL_CONFIGS.keys()) {
    it(`agrees with the training graph's logits (${id}, LoRA on every projection)`, () => {
      const lora = randomLora(id, 5);
      const { w, shared } = decodeWeights(id, lora);
      const graph = new TrainGraph(tf, shared.base);
      const text = "Q: what is the colour of the sea?\nA: blue";
      const enc = encodeBatch([{ text }], w.config.context_length);
      const expected = graph.logits(enc, lora);
      const tokens = [BOS, ...encodeText(text)];
      const hidden = forwardSequences(w, [tokens]);
      const got = logitsOf(w, hidden, tokens.length);
      const V = w.config.vocab_size;
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < tokens.length * V; i++) {
        worst = Math.max(worst, Math.abs(got[i]! - expected[i]!));
        scale = Math.max(scale, Math.abs(expected[i]!));
      }
      expect(worst / scale).toBeLessThan(1e-4);
      graph.dispose();
      w.dispose();
      shared.dispose();
    });
  }
});

describe("batched sampling", () => {
  it("gives a seeded prompt the same completion alone and in batches of 2..16 at any position", async () => {
    const core = await sharedCore();
    core.createRun("bi", tinyConfig({ learning_rate: 3e-2 }));
    for (let i = 0; i < 5; i++) core.trainStep("bi", QA_PAIRS);
    const params = { temperature: 1, max_tokens: 12, seed: 21, n: 2, logprobs: true };
    const target = "Q: dog?\nA:";
    const alone = core.sample({ runId: "bi" }, [target], params).completions.map((c) => [c.tokens, c.logprobs, c.finish_reason]);
    const others = Array.from({ length: 15 }, (_, i) => (i % 2 ? QA_PAIRS[i % 8]!.prompt : `other ${i} ${"z".repeat(i)}`));
    for (const [size, at] of [
      [2, 1],
      [3, 0],
      [8, 5],
      [16, 15],
    ] as const) {
      const prompts = others.slice(0, size - 1);
      prompts.splice(at, 0, target);
      const got = core.sample({ runId: "bi" }, prompts, params).completions.filter((c) => c.prompt_index === at);
      expect(got.map((c) => [c.tokens, c.logprobs, c.finish_reason])).toEqual(alone);
    }
  });

  it("frees decode tensors when weights change, runs are dropped and adapters unloaded", async () => {
    const core = await sharedCore();
    core.createRun("mem", tinyConfig());
    core.sample({ runId: "mem" }, ["a"], { max_tokens: 2, seed: 1 });
    const before = core.numTensors();
    for (let i = 0; i < 3; i++) {
      core.trainStep("mem", QA_PAIRS.slice(0, 2));
      core.sample({ runId: "mem" }, ["a", "b"], { max_tokens: 2, seed: 1 });
    }
    expect(core.numTensors()).toBe(before);
    const state = core.exportState("mem");
    core.loadAdapter("mem-ckpt", tinyConfig(), state.adapter);
    core.sample({ adapterKey: "mem-ckpt" }, ["a"], { max_tokens: 2, seed: 1 });
    core.loadAdapter("mem-ckpt", tinyConfig(), state.adapter);
    core.unloadAdapter("mem-ckpt");
    core.createRun("mem", tinyConfig());
    core.sample({ runId: "mem" }, ["a"], { max_tokens: 2, seed: 1 });
    expect(core.numTensors()).toBe(before);
    core.dropRun("mem");
    expect(core.numTensors()).toBeLessThan(before);
  });
});
