// The memory figure of the Hugging Face section: `frontier-signal serve --model DIR` in a process
// of its own (2 engine workers, its defaults), driven over HTTP as a user would: one run created
// with LoRA on all seven projections, one forward_backward of the bench's batch (4 × 128 tokens),
// one optim_step, one greedy sample; then the server process's peak RSS (VmHWM, Linux).
// Run by hf-model.ts: `node --import tsx hf-engine-rss.ts DIR` prints {"peak_rss_bytes"} on stdout.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = process.argv[2];
if (!dir) throw new Error("usage: hf-engine-rss.ts CHECKPOINT_DIR");
const KEY = "sk-bench-rss";
const cli = fileURLToPath(new URL("../../bin/signal.js", import.meta.url));
const server = spawn(
  process.execPath,
  [cli, "serve", "--port", "0", "--data-dir", ":memory:", "--api-key", KEY, "--no-console", "--model", `llama-180m=${dir}`],
  {
    stdio: ["ignore", "pipe", "inherit"],
  },
);
try {
  const base = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.on("exit", (code) => reject(new Error(`the server exited with code ${code}: ${out}`)));
  });
  const call = async (path: string, body: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as Record<string, unknown>;
  };
  const run = await call("/v1/runs", {
    base_model: "llama-180m",
    lora_r: 8,
    lora_alpha: 16,
    target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    learning_rate: 1e-4,
    seed: 1,
  });
  const runId = run.run_id as string;
  let s = 7;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % 128000;
  };
  const batch = Array.from({ length: 4 }, () => {
    const tokens = [128000, ...Array.from({ length: 127 }, next)];
    return { tokens, weights: tokens.map((_, i) => (i === 0 ? 0 : 1)) };
  });
  await call(`/v1/runs/${runId}/forward_backward`, { batch });
  await call(`/v1/runs/${runId}/optim_step`, {});
  await call(`/v1/runs/${runId}/sample`, { prompt_tokens: [batch[0]!.tokens.slice(0, 16)], max_tokens: 8, temperature: 0 });
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"));
  if (!hwm) throw new Error("no VmHWM in /proc/PID/status (the memory figure needs Linux)");
  process.stdout.write(`${JSON.stringify({ peak_rss_bytes: Number(hwm[1]) * 1024 })}\n`);
} finally {
  server.kill();
}
