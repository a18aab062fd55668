// The memory figure of the Hugging Face section, in a process of its own: the server's engine
// (`createEngine`, 2 worker threads, as `signal serve` starts it) on a checkpoint, one run
// created and trained (one forward_backward of the bench's batch) and sampled, then the
// process's peak RSS. Run by hf-model.ts: `node --import tsx hf-engine-rss.ts DIR` prints
// {"peak_rss_bytes"} on stdout.
import { createEngine } from "../../src/server/engine/index.js";

const dir = process.argv[2];
if (!dir) throw new Error("usage: hf-engine-rss.ts CHECKPOINT_DIR");
const engine = await createEngine({ workers: 2, models: [{ path: dir, id: "llama-180m" }] });
await engine.createRun("rss", {
  base_model: "llama-180m",
  lora_r: 8,
  lora_alpha: 16,
  target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
  learning_rate: 1e-4,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weight_decay: 0,
  seed: 1,
});
let s = 7;
const next = () => {
  s = (s * 1103515245 + 12345) % 2 ** 31;
  return s % 128000;
};
const examples = Array.from({ length: 4 }, () => {
  const tokens = [128000, ...Array.from({ length: 127 }, next)];
  return { tokens, weights: tokens.map((_, i) => (i === 0 ? 0 : 1)) };
});
await engine.forwardBackward("rss", examples);
await engine.optimStep("rss");
await engine.sample({ runId: "rss" }, [examples[0]!.tokens.slice(0, 16)], {
  temperature: 0,
  max_tokens: 8,
  n: 1,
  top_p: 1,
  top_k: -1,
  stop: [],
  logprobs: false,
});
process.stdout.write(`${JSON.stringify({ peak_rss_bytes: process.resourceUsage().maxRSS * 1024 })}\n`);
await engine.close();
