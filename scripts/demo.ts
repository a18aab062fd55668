// `npm start`: the SDK's main job on a fresh machine. Starts the local reference server
// in-process, then walks the guide with the SDK on a small dataset shipped in the repo: the
// simple API, trainEpoch with a progress bar, checkpoints early and late, the same prompts
// sampled at both, the sample cache, a streamed answer, and the loss curve as an SVG.
//
// `npm start -- --model DIR` runs the same walk on a Hugging Face checkpoint folder (Llama,
// Mistral, Qwen2, Qwen3) instead of the built-in byte model; `--epochs N` sets the length of the
// trainEpoch part (default 40 on the built-in model, 6 on a checkpoint).
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Batch, SignalClient } from "../src/index.js";
import { startServer } from "../src/server/index.js";
import { lossCurveSvg } from "./demo/loss-svg.js";

const started = performance.now();
const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
const say = (text: string) => console.log(`\n[${seconds()}s] ${text}`);

const pairs: Array<{ prompt: string; completion: string }> = readFileSync(new URL("./data/facts.jsonl", import.meta.url), "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => JSON.parse(line));
const prompts = pairs.map((p) => p.prompt);
const BATCH_SIZE = 4;
const args = parseArgs({ args: process.argv.slice(2), options: { model: { type: "string" }, epochs: { type: "string" } } }).values;
const checkpointDir = args.model === undefined ? undefined : resolve(args.model);
const EPOCHS = args.epochs === undefined ? (checkpointDir ? 6 : 40) : Number(args.epochs);
if (!Number.isInteger(EPOCHS) || EPOCHS < 1) throw new Error(`--epochs must be a positive integer, got ${args.epochs}`);

/** A tiny dataloader: the pairs in a seeded shuffled order, `BATCH_SIZE` at a time. */
function* epochBatches(epoch: number): Generator<Batch> {
  const order = pairs.map((_, i) => i);
  let state = 1234 + epoch;
  for (let i = order.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  for (let i = 0; i < order.length; i += BATCH_SIZE) yield order.slice(i, i + BATCH_SIZE).map((k) => pairs[k] as Batch[number]);
}

const outDir = resolve(".signal");
const dataDir = resolve(outDir, "demo");
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });
const apiKey = `sk-demo-${randomBytes(12).toString("hex")}`;

say("Starting the local reference server (in-process, 127.0.0.1, any free port)...");
const server = await startServer({
  port: 0,
  dataDir,
  apiKeys: [apiKey],
  log: false,
  ...(checkpointDir ? { models: [{ path: checkpointDir }], defaultModel: basename(checkpointDir) } : {}),
});
console.log(`  listening on ${server.url}; data in ${dataDir}`);

await using client = new SignalClient({ apiKey, baseUrl: server.url });
try {
  const models = await client.listModels();
  const model = models.data[0];
  if (!model) throw new Error("the server lists no models");
  console.log(
    `  base model: ${model.id}, ${model.architecture} (${model.num_parameters.toLocaleString()} parameters, context ${model.context_length})${checkpointDir ? ` from ${checkpointDir}` : ""}`,
  );

  say("Simple API: create a run, then forward_backward + optim_step on the client");
  // A pretrained checkpoint takes a gentler learning rate than the random-init byte model.
  const run = await client.createRun({ base_model: model.id, lora_r: 8, lora_alpha: 16, learning_rate: checkpointDir ? 2e-3 : 1e-2, seed: 7 });
  console.log(`  run ${run.run_id}: LoRA r=${run.lora_r} alpha=${run.lora_alpha} on ${run.target_modules.join(", ")}`);
  const losses: number[] = [];
  for (const batch of epochBatches(0)) {
    const result = await client.forwardBackward(run.run_id, batch);
    const step = await client.optimStep(run.run_id);
    losses.push(result.loss);
    console.log(`  step ${step.step}: loss ${result.loss.toFixed(4)}  grad_norm ${result.grad_norm.toFixed(3)}  (${result.num_tokens} tokens)`);
  }

  say("Checkpoint early (SignalRun wrapper)");
  const early = await run.saveState({ mode: "adapter" });
  console.log(`  checkpoint at step ${early.step}: ${early.size_bytes.toLocaleString()} bytes`);

  say(`Advanced training API: trainEpoch × ${EPOCHS} with a progress bar`);
  {
    await using training = run.training();
    for (let epoch = 1; epoch <= EPOCHS; epoch++) {
      const result = await training.trainEpoch(epochBatches(epoch), {
        progress: epoch === 1 || epoch === EPOCHS || epoch % 10 === 0,
        total: Math.ceil(pairs.length / BATCH_SIZE),
      });
      if (epoch === 1 || epoch === EPOCHS || epoch % 10 === 0) {
        console.log(
          `  epoch ${epoch}/${EPOCHS}: avg_loss ${result.avg_loss?.toFixed(4)} over ${result.steps} steps, ${result.num_tokens} tokens, ${result.elapsed_ms.toFixed(0)} ms`,
        );
      }
    }
    const metrics = training.getMetrics();
    losses.push(...metrics.loss_history);
    console.log(`  current_step ${metrics.current_step}, last_loss ${metrics.last_loss?.toFixed(4)}, tokens ${metrics.tokens_processed}`);
    const late = await training.saveCheckpoint({ mode: "state" });
    console.log(`  checkpoint at step ${late.step} (mode state: weights + optimizer)`);
  }
  const late = (await run.refresh()).current_step;

  say(`Advanced inference API: the same prompts at step ${early.step} and step ${late} (greedy)`);
  const before = client.inference(run.run_id, { step: early.step });
  const after = client.inference(run.run_id, { step: late, batchSize: 4, concurrency: 2 });
  // A checkpoint's tokens are words, not bytes: stop at the end of the answer's line.
  const params = { max_tokens: 12, temperature: 0, ...(checkpointDir ? { stop: ["\n"] } : {}) };
  const [outBefore, outAfter] = await Promise.all([before.batchSample(prompts, params), after.batchSample(prompts, params)]);
  let right = 0;
  const show = (s: string) => JSON.stringify(s).slice(0, 22).padEnd(22);
  console.log(`  ${"prompt".padEnd(26)} ${`step ${early.step}`.padEnd(22)} ${`step ${late}`.padEnd(22)} expected`);
  pairs.forEach((pair, i) => {
    const ok = outAfter[i] === pair.completion;
    if (ok) right++;
    console.log(
      `  ${JSON.stringify(pair.prompt).padEnd(26)} ${show(outBefore[i] ?? "")} ${show(outAfter[i] ?? "")} ${JSON.stringify(pair.completion)} ${ok ? "✓" : "✗"}`,
    );
  });
  console.log(`  ${right}/${pairs.length} answers right after training`);
  if (!checkpointDir && right < pairs.length / 2) {
    console.error("  the model did not learn the pairs: that is a bug, please report it");
    process.exitCode = 1;
  }

  say("Sample cache on the pinned late checkpoint");
  after.enableCache({ maxEntries: 1000 });
  await after.sample(prompts.slice(0, 6), params);
  await after.sample(prompts, params);
  const stats = after.getCacheStats();
  console.log(`  cache_size ${stats.cache_size}, hits ${stats.hits}, misses ${stats.misses}, hit_rate ${stats.hit_rate.toFixed(2)}`);

  say("A streamed answer (tokens arrive as they are generated)");
  process.stdout.write(`  ${JSON.stringify(prompts[0])} →`);
  for await (const chunk of after.streamSample(prompts[0] as string, params)) {
    process.stdout.write(chunk.delta);
    if (chunk.finish_reason) process.stdout.write(`  [finish_reason: ${chunk.finish_reason}]\n`);
  }

  const svgPath = resolve(outDir, "demo-loss.svg");
  writeFileSync(
    svgPath,
    lossCurveSvg(losses, { title: `LoRA fine-tune of ${model.id} on ${pairs.length} Q→A pairs`, marks: [{ step: early.step, label: "early checkpoint" }] }),
  );
  say(`Loss ${losses[0]?.toFixed(3)} → ${losses.at(-1)?.toFixed(3)} over ${losses.length} steps; curve written to ${svgPath}`);
} finally {
  await server.close();
}
console.log(`\nDone in ${seconds()} s.`);
