import OpenAI from "openai";
import { SignalClient } from "../../src/index.js";
import { SampleCache } from "../../src/sample-cache.js";
import { startServerProcess } from "./server-process.js";
import { fmt, median, percentile, timeRuns } from "./stats.js";

/**
 * The SDK against the local server (a separate process): per-call overhead against raw fetch and
 * the openai client, batchSample against a loop of single calls, the cache, training round
 * trips, sampling throughput and time to first streamed token.
 */
export async function benchSdk(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const server = await startServerProcess();
  const figures: Record<string, number> = {};
  const lines: string[] = [];
  try {
    const client = new SignalClient({ apiKey: server.apiKey, baseUrl: server.url });
    const run = await client.createRun({ base_model: "signal-byte-tiny", seed: 1 });
    const runId = run.run_id;
    await run.trainBatch([{ prompt: "Q: hi\nA:", completion: " hello" }]);
    await run.saveState({ mode: "adapter" });
    const auth = { authorization: `Bearer ${server.apiKey}`, "content-type": "application/json" };
    const openai = new OpenAI({ apiKey: server.apiKey, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const inference = client.inference(runId);
    const sampleBody = { prompts: ["Q: hi\nA:"], max_tokens: 1, temperature: 0 };

    // 1. Per-call overhead: the same request three ways, interleaved so drift hits all equally.
    const N = 300;
    const calls = {
      "getRun: raw fetch": () => fetch(`${server.url}/v1/runs/${runId}`, { headers: auth }).then((r) => r.json()),
      "getRun: SignalClient": () => client.getRun(runId),
      "sample: raw fetch": () =>
        fetch(`${server.url}/v1/runs/${runId}/sample`, { method: "POST", headers: auth, body: JSON.stringify(sampleBody) }).then((r) => r.json()),
      // What the SDK sends on every POST: the server then keeps a replay record (in memory for sample).
      "sample: raw fetch + Idempotency-Key": () =>
        fetch(`${server.url}/v1/runs/${runId}/sample`, {
          method: "POST",
          headers: { ...auth, "idempotency-key": `bench-${Math.random()}` },
          body: JSON.stringify(sampleBody),
        }).then((r) => r.json()),
      "sample: InferenceClient": () => inference.sample(sampleBody.prompts, { max_tokens: 1, temperature: 0 }),
      "sample: SignalClient": () => client.sample(runId, sampleBody.prompts, { max_tokens: 1, temperature: 0 }),
      "completion: openai client": () => openai.completions.create({ model: runId, prompt: "Q: hi\nA:", max_tokens: 1, temperature: 0 }),
    } as const;
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(calls).map((k) => [k, []]));
    for (const fn of Object.values(calls)) for (let i = 0; i < 20; i++) await fn();
    for (let i = 0; i < N; i++) {
      for (const [name, fn] of Object.entries(calls)) {
        const t = performance.now();
        await fn();
        times[name]?.push(performance.now() - t);
      }
    }
    lines.push("## SDK call overhead (local server in its own process, loopback)", "");
    lines.push(`${N} calls each, interleaved; the sample calls ask for 1 token from \`signal-byte-tiny\`.`, "");
    lines.push("| call | median ms | p90 ms | vs raw fetch (median) |", "|---|---|---|---|");
    for (const [name, t] of Object.entries(times)) {
      const base = name.startsWith("getRun") ? times["getRun: raw fetch"] : times["sample: raw fetch"];
      const ratio = median(t) / median(base ?? t);
      figures[`${name} median_ms`] = median(t);
      figures[`${name} ratio_to_raw`] = ratio;
      lines.push(`| ${name} | ${fmt(median(t), 3)} | ${fmt(percentile(t, 90), 3)} | ${fmt(ratio)}× |`);
    }
    lines.push("");

    // 2. batchSample of 256 prompts vs a loop of single-prompt calls, on a checkpoint (the usual
    // case for batch inference; a checkpoint is on every engine worker, live weights on one).
    const atCheckpoint = client.inference(runId, { step: 1 });
    const prompts = Array.from({ length: 256 }, (_, i) => `Q: item ${i}?\nA:`);
    const params = { max_tokens: 8, temperature: 0 } as const;
    const batched = await timeRuns(() => atCheckpoint.batchSample(prompts, params, { batchSize: 32 }), 3, 1);
    const loop = await timeRuns(
      async () => {
        for (const p of prompts) await atCheckpoint.sample([p], params);
      },
      1,
      0,
    );
    const speedup = median(loop) / median(batched);
    figures.batch_sample_256_ms = median(batched);
    figures.loop_sample_256_ms = median(loop);
    figures.batch_speedup = speedup;
    lines.push("## batchSample vs a loop of single calls", "");
    lines.push("| 256 prompts × 8 tokens (`signal-byte-tiny`, checkpoint at step 1) | ms |", "|---|---|");
    lines.push(`| \`batchSample\` (batchSize 32, concurrency 4) | ${fmt(median(batched), 0)} |`);
    lines.push(`| loop of \`sample([prompt])\` | ${fmt(median(loop), 0)} |`);
    lines.push(`| speedup | **${fmt(speedup, 1)}×** (target ≥ 5×) |`, "");

    // 3. Cache: a hit per prompt, and memory at 100k entries.
    const pinned = client.inference(runId, { step: 1 });
    pinned.enableCache({ maxEntries: 10_000 });
    const cachedPrompts = prompts.slice(0, 100);
    await pinned.sample(cachedPrompts, params);
    const hitTimes = await timeRuns(() => pinned.sample(cachedPrompts, params), 200, 20);
    const perHitUs = (median(hitTimes) / cachedPrompts.length) * 1000;
    figures.cache_hit_us_per_prompt = perHitUs;
    const memory = cacheMemory();
    Object.assign(figures, memory);
    lines.push("## Sample cache", "");
    lines.push("| measure | value |", "|---|---|");
    lines.push(`| \`sample\` of 100 prompts, all cached: per prompt | ${fmt(perHitUs, 2)} µs (no request sent) |`);
    lines.push(`| 100,000 entries (30-byte prompts, 8-char answers): heap | ${fmt(memory.cache_100k_heap_mib, 1)} MiB |`);
    lines.push(`| 150,000 inserts with maxEntries 100,000: entries kept | ${memory.cache_entries_after_overflow} |`, "");

    // 4. Training round trips and sampling throughput on the default model.
    const base = await client.createRun({ base_model: "signal-byte-base", seed: 2 });
    const training = base.training();
    const text = "x".repeat(126);
    const batch = Array.from({ length: 8 }, () => ({ text }));
    const fused = await timeRuns(() => training.trainBatch(batch), 10, 2);
    const split = await timeRuns(
      async () => {
        await training.forwardBackward(batch);
        await training.optimStep();
      },
      10,
      2,
    );
    figures.train_batch_ms = median(fused);
    figures.fb_plus_optim_ms = median(split);
    const inferBase = base.inference();
    const eight = Array.from({ length: 8 }, (_, i) => `Prompt number ${i}:`);
    const sampleParams = { max_tokens: 64, temperature: 1, seed: 3, stop: [] };
    let tokens8 = 0;
    const t8 = await timeRuns(
      async () => {
        const r = await inferBase.sampleDetailed(eight, sampleParams);
        tokens8 = r.usage.completion_tokens;
      },
      5,
      1,
    );
    let tokens1 = 0;
    const t1 = await timeRuns(
      async () => {
        const r = await inferBase.sampleDetailed(eight.slice(0, 1), sampleParams);
        tokens1 = r.usage.completion_tokens;
      },
      5,
      1,
    );
    const ttft: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      for await (const _chunk of inferBase.streamSample("Tell me:", { max_tokens: 16, temperature: 0 })) {
        ttft.push(performance.now() - t);
        break;
      }
    }
    figures.sample_tokens_per_s_batched = tokens8 / (median(t8) / 1000);
    figures.sample_tokens_per_s_single = tokens1 / (median(t1) / 1000);
    figures.ttft_ms = median(ttft);
    lines.push("## Training and sampling through the SDK (`signal-byte-base`, server in its own process)", "");
    lines.push("| measure | value |", "|---|---|");
    lines.push(`| \`trainBatch\` 8 × 128 tokens (one round trip, fused train_step), median of 10 | ${fmt(median(fused), 0)} ms |`);
    lines.push(
      `| \`forwardBackward\` + \`optimStep\` 8 × 128 tokens, median of 10 | ${fmt(median(split), 0)} ms (${fmt(median(split) / median(fused))}× the fused call) |`,
    );
    lines.push(`| sampling, 8 prompts × 64 tokens | ${fmt(figures.sample_tokens_per_s_batched, 0)} tokens/s |`);
    lines.push(`| sampling, 1 prompt × 64 tokens | ${fmt(figures.sample_tokens_per_s_single, 0)} tokens/s |`);
    lines.push(`| time to first streamed token (median of 20) | ${fmt(median(ttft), 1)} ms |`, "");
    await client.close();
  } finally {
    await server.stop();
  }
  return { markdown: lines.join("\n"), figures };
}

/** Heap held by the cache at 100k entries, and that the entry bound holds. */
function cacheMemory(): { cache_100k_heap_mib: number; cache_entries_after_overflow: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const cache = new SampleCache({ maxEntries: 100_000 });
  const scope = cache.scope("run_abcdefgh", 10, { temperature: 0, max_tokens: 8 }) as string;
  for (let i = 0; i < 150_000; i++) cache.set(scope, `Q: question number ${i}?\nA:`, [` answer${i % 10}`]);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  return { cache_100k_heap_mib: (after - before) / 2 ** 20, cache_entries_after_overflow: cache.stats(true).cache_size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchSdk()).markdown);
  process.exit(0);
}
