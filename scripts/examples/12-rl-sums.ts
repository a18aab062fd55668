// Reinforcement learning, GRPO style: after a short supervised warm-up, the model gets better
// at single-digit sums ("2+3=" -> "5") from a reward alone. Each iteration samples `N` answers per
// prompt with their logprobs, scores them (1 for the exact answer), takes as each answer's
// advantage its reward minus its group's mean, and makes one `importance_sampling` step
// (`--loss cispo`: one `cispo` step, the clipped-ratio policy gradient, with its default clip range
// 0 to 4). Prints the mean reward of every iteration and writes the curve as an SVG
// (`RL_SUMS_SVG`, default rl-sums-reward.svg in the system's temp directory).
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignalClient, type Batch, type TokensExample } from "../../src/index.js";
import { run } from "./data.js";

const MODEL = "signal-byte-base";
const SEED = 7;
/** Supervised steps first: the model learns the format (a digit, then a new line) and a little more. */
const WARMUP_STEPS = 10;
const ITERATIONS = 12;
/** Samples per prompt: one GRPO group. */
const N = 8;

/** The loss of the RL steps: `--loss importance_sampling` (the default) or `--loss cispo`. */
function lossArg(argv: string[]): "importance_sampling" | "cispo" {
  const at = argv.indexOf("--loss");
  const value = at >= 0 ? argv[at + 1] : "importance_sampling";
  if (value !== "importance_sampling" && value !== "cispo") throw new Error(`--loss must be importance_sampling or cispo; got ${String(value)}`);
  return value;
}
const LOSS = lossArg(process.argv.slice(2));

/** The sums of two digits from 0 to 3: 16 problems, every answer one digit. */
const problems = [0, 1, 2, 3].flatMap((a) => [0, 1, 2, 3].map((b) => ({ prompt: `${a}+${b}=`, answer: String(a + b) })));

function svgOf(rewards: number[], loss: string): string {
  const w = 480;
  const h = 240;
  const pad = 36;
  const x = (i: number) => pad + (i * (w - 2 * pad)) / Math.max(1, rewards.length - 1);
  const y = (r: number) => h - pad - r * (h - 2 * pad);
  const points = rewards.map((r, i) => `${x(i).toFixed(1)},${y(r).toFixed(1)}`).join(" ");
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="11">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<line x1="${pad}" y1="${y(0)}" x2="${w - pad}" y2="${y(0)}" stroke="#999"/>`,
    `<line x1="${pad}" y1="${y(0)}" x2="${pad}" y2="${y(1)}" stroke="#999"/>`,
    `<text x="${pad - 6}" y="${y(0) + 4}" text-anchor="end">0</text><text x="${pad - 6}" y="${y(1) + 4}" text-anchor="end">1</text>`,
    `<text x="${w / 2}" y="${h - 8}" text-anchor="middle">iteration (1-${rewards.length})</text>`,
    `<text x="${w / 2}" y="16" text-anchor="middle">mean reward, single-digit sums (GRPO, ${loss})</text>`,
    `<polyline points="${points}" fill="none" stroke="#2563eb" stroke-width="2"/>`,
    ...rewards.map((r, i) => `<circle cx="${x(i).toFixed(1)}" cy="${y(r).toFixed(1)}" r="2.5" fill="#2563eb"/>`),
    `</svg>`,
  ].join("\n");
}

run(async () => {
  const client = new SignalClient();
  const signalRun = await client.createRun({ base_model: MODEL, learning_rate: 0.02, seed: SEED });
  const training = signalRun.training();
  const inference = client.inference(signalRun.run_id);

  // Warm-up on every problem. Its gradients are clipped to 0.1, the scale of the RL gradients
  // below: AdamW's second moment remembers the warm-up's scale, and unclipped (~1) it would
  // shrink every RL step about tenfold.
  const supervised: Batch = problems.map(({ prompt, answer }) => ({ prompt, completion: `${answer}\n` }));
  for (let i = 0; i < WARMUP_STEPS; i++) await training.trainBatch(supervised, { max_grad_norm: 0.1 });

  const rewards: number[] = [];
  for (let iteration = 1; iteration <= ITERATIONS; iteration++) {
    // One request per prompt, each with its own seed: the samples of one request share their random draws.
    const sampled = await Promise.all(
      problems.map((problem, p) =>
        inference.sampleDetailed([problem.prompt], {
          n: N,
          max_tokens: 2,
          temperature: 1,
          stop: ["\n"],
          logprobs: true,
          prompt_logprobs: true,
          seed: SEED * 100_000 + iteration * 100 + p,
        }),
      ),
    );
    const batch: TokensExample[] = [];
    let total = 0;
    for (const [p, problem] of problems.entries()) {
      const samples = sampled[p]!.samples;
      const scores = samples.map((s): number => (s.text.trim() === problem.answer ? 1 : 0));
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      total += mean;
      // A group whose answers all scored the same teaches nothing: every advantage is 0.
      if (scores.every((r) => r === mean)) continue;
      for (const [k, sample] of samples.entries()) {
        // The prompt's tokens (BOS first) carry no advantage; each answer token carries its sample's.
        const prompt = sample.prompt_tokens!;
        const tokens = sample.tokens!;
        batch.push({
          tokens: [...prompt, ...tokens],
          logprobs: [...prompt.map(() => 0), ...sample.logprobs!],
          advantages: [...prompt.map(() => 0), ...tokens.map(() => scores[k]! - mean)],
        });
      }
    }
    const meanReward = total / problems.length;
    rewards.push(meanReward);
    console.log(`iteration ${iteration} mean reward ${meanReward.toFixed(3)}`);
    if (batch.length > 0) await training.trainBatch(batch, { loss_fn: LOSS, learning_rate: 0.02 });
  }

  const file = process.env.RL_SUMS_SVG ?? join(tmpdir(), "rl-sums-reward.svg");
  writeFileSync(file, svgOf(rewards, LOSS));
  const mean3 = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(`first three ${mean3(rewards.slice(0, 3)).toFixed(3)}, last three ${mean3(rewards.slice(-3)).toFixed(3)}; curve in ${file}`);
  await training.close();
});
