// Engine benchmark: train step, sampling throughput, time to first token, memory, and two runs on
// two workers vs one. `npx tsx scripts/bench/engine.ts` prints the markdown.
import { pathToFileURL } from "node:url";
import { EngineCore, MODEL_CONFIGS, type ModelConfig, type RunConfig, createEngine } from "../../src/server/engine/index.js";
import { loadTf } from "../../src/server/engine/tf-loader.js";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function config(base_model: string): RunConfig {
  return { base_model, lora_r: 8, lora_alpha: 16, target_modules: ["q_proj", "v_proj"], learning_rate: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0, seed: 1 };
}

/** 8 examples of 128 tokens each (BOS + 126 bytes + EOS). */
const batch = Array.from({ length: 8 }, (_, i) => ({ text: `${i} ${"the quick brown fox jumps over the lazy dog ".repeat(3)}`.slice(0, 126) }));

/** Matmul FLOPs of one training step (forward + input-gradient backward; frozen weights get no weight gradient). */
function stepFlops(c: ModelConfig, rows: number, seq: number): number {
  const n = rows * seq;
  const d = c.d_model;
  const proj = 8 * n * d * d + 4 * n * d * c.d_ff;
  const attention = 4 * rows * seq * seq * d;
  const head = 2 * n * d * c.vocab_size;
  return c.n_layers * (2 * proj + 3 * attention) + 2 * head;
}

async function timeIt(fn: () => unknown, reps: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

export async function benchEngine(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const tf = await loadTf();
  const a = tf.randomNormal([1024, 128]);
  const b = tf.randomNormal([128, 512]);
  const mmMs = await timeIt(() => tf.matMul(a, b).dataSync(), 30);
  const gflops = (2 * 1024 * 128 * 512) / mmMs / 1e6;
  a.dispose();
  b.dispose();

  const core = await EngineCore.create();
  const figures: Record<string, number> = { matmul_gflops: gflops };
  const rows: string[] = [];
  for (const id of MODEL_CONFIGS.keys()) {
    const c = MODEL_CONFIGS.get(id)!;
    core.createRun(id, config(id));
    core.trainStep(id, batch);
    const fused = await timeIt(() => core.trainStep(id, batch), 7);
    const split = await timeIt(() => (core.forwardBackward(id, batch), core.optimStep(id)), 7);
    const bound = (stepFlops(c, 8, 128) / (gflops * 1e9)) * 1000;
    figures[`${id}_train_step_ms`] = fused;
    figures[`${id}_fb_plus_optim_ms`] = split;
    figures[`${id}_matmul_bound_ms`] = bound;
    rows.push(`| ${id} | ${fused.toFixed(0)} | ${split.toFixed(0)} | ${(stepFlops(c, 8, 128) / 1e9).toFixed(2)} | ${bound.toFixed(0)} | ${(fused / bound).toFixed(1)}x |`);
  }

  const id = "signal-byte-base";
  const prompts = Array.from({ length: 8 }, (_, i) => `Prompt ${i}: once upon a time`);
  const sampleParams = { max_tokens: 64, temperature: 1, seed: 1, stop: [] };
  // EOS ends completions early on a random model; count the tokens actually made.
  let made = 0;
  const batchMs = await timeIt(() => (made = core.sample({ runId: id }, prompts, sampleParams).completion_tokens), 3);
  let madeOne = 0;
  const oneMs = await timeIt(() => (madeOne = core.sample({ runId: id }, [prompts[0]!], sampleParams).completion_tokens), 3);
  let ttft = 0;
  const t0 = performance.now();
  core.sample({ runId: id }, [prompts[0]!], { ...sampleParams, max_tokens: 8 }, { onToken: () => (ttft ||= performance.now() - t0) });
  figures.sample_batch8_tokens_per_s = made / (batchMs / 1000);
  figures.sample_single_tokens_per_s = madeOne / (oneMs / 1000);
  figures.time_to_first_token_ms = ttft;

  // Two runs training concurrently: on one worker they queue, on two each gets a core.
  const concurrent = async (workers: number) => {
    const engine = await createEngine({ workers });
    await engine.createRun("a", config(id));
    await engine.createRun("b", config(id));
    await Promise.all([engine.trainStep("a", batch), engine.trainStep("b", batch)]);
    const ms = await timeIt(() => Promise.all(Array.from({ length: 3 }, () => Promise.all([engine.trainStep("a", batch), engine.trainStep("b", batch)]))), 3);
    await engine.close();
    return ms / 3;
  };
  const one = await concurrent(1);
  const two = await concurrent(2);
  figures.two_runs_one_worker_ms = one;
  figures.two_runs_two_workers_ms = two;
  figures.peak_rss_mb = process.memoryUsage().rss / 2 ** 20;
  core.dispose();

  const baseStep = figures[`${id}_train_step_ms`]!;
  const markdown = [
    "## Engine",
    "",
    `In-thread EngineCore (tfjs ${tf.version.tfjs}, wasm backend, one core); LoRA r=8 on q/v; batch 8 × 128 tokens. Medians.`,
    "",
    `2-D untransposed matmul [1024,128]×[128,512] measured in this run: **${gflops.toFixed(1)} GFLOP/s**.`,
    "",
    "| model | trainStep ms | forwardBackward + optimStep ms | matmul GFLOP per step | matmul bound ms | step / bound |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
    `Sampling (${id}, 64 tokens max, temperature 1): 8 prompts **${figures.sample_batch8_tokens_per_s!.toFixed(0)} tokens/s**, ` +
      `1 prompt ${figures.sample_single_tokens_per_s!.toFixed(0)} tokens/s; time to first token ${ttft.toFixed(1)} ms.`,
    "",
    `Two runs training concurrently (${id}): ${one.toFixed(0)} ms per pair of steps on 1 worker, ${two.toFixed(0)} ms on 2 workers (${(one / two).toFixed(2)}x).`,
    "",
    `Peak RSS: ${figures.peak_rss_mb!.toFixed(0)} MB (this process; each worker adds its own wasm heap).`,
    "",
    `Targets: default model step ≤ 200 ms (${baseStep <= 200 ? "met" : "missed"}), batched sampling ≥ 2,000 tokens/s (${figures.sample_batch8_tokens_per_s! >= 2000 ? "met" : "missed"}).`,
    "The step is far above its matmul bound because at these sizes it is dominated by per-op cost: tfjs dispatch and",
    "the autodiff tape for ~40 small ops per (row, head) of attention, LayerNorm/softmax/GELU element-wise kernels, and",
    "Transpose/Slice copies, none of which XNNPACK accelerates. Sampling runs in plain JavaScript loops (float64 dot",
    "products), which keeps each sequence's arithmetic independent of the batch but runs at ~1 GFLOP/s.",
    "",
  ].join("\n");
  return { markdown, figures };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { markdown } = await benchEngine();
  process.stdout.write(markdown + "\n");
}
