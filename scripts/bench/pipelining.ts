import { SignalClient, type Batch } from "../../src/index.js";
import { startLatencyProxy } from "./latency-proxy.js";
import { startServerProcess } from "./server-process.js";
import { fmt } from "./stats.js";

const CALLS = 40;
const DELAYS = [50, 0] as const;
/** Goal: 40 un-awaited trainBatch calls take at most this share of the same 40 awaited one by one, through 50 ms each way. */
const GOAL = 0.35;

const QA: Batch = [
  { prompt: "Q: red?\nA:", completion: " apple\n" },
  { prompt: "Q: blue?\nA:", completion: " sky\n" },
];

/**
 * Pipelined training calls against the same calls awaited one by one, on one run of
 * `signal-byte-tiny` behind a TCP proxy that adds a one-way latency (50 ms, then 0 ms), the
 * server in its own process.
 */
export async function benchPipelining(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const server = await startServerProcess({ workers: 1 });
  const proxy = await startLatencyProxy(server.url, 0);
  const client = new SignalClient({ apiKey: server.apiKey, baseUrl: proxy.url });
  const figures: Record<string, number> = {};
  const rows: string[] = [];
  try {
    const run = await client.createRun({ base_model: "signal-byte-tiny", seed: 1 });
    const serial = client.training(run.run_id, { maxInFlight: 1 });
    const pipelined = client.training(run.run_id);
    for (let i = 0; i < 3; i++) await serial.trainBatch(QA);
    for (const delay of DELAYS) {
      proxy.delayMs = delay;
      let t = performance.now();
      for (let i = 0; i < CALLS; i++) await serial.trainBatch(QA);
      const serialMs = performance.now() - t;
      t = performance.now();
      await Promise.all(Array.from({ length: CALLS }, () => pipelined.trainBatch(QA)));
      const pipelinedMs = performance.now() - t;
      const ratio = pipelinedMs / serialMs;
      figures[`${delay}ms serial_ms`] = serialMs;
      figures[`${delay}ms pipelined_ms`] = pipelinedMs;
      figures[`${delay}ms ratio`] = ratio;
      const goal = delay === 50 ? `≤ ${GOAL} ${ratio <= GOAL ? "✓" : "✗"}` : "";
      rows.push(
        `| ${delay} ms | ${fmt(serialMs / 1000, 2)} s (${fmt(serialMs / CALLS, 1)} ms/call) | ${fmt(pipelinedMs / 1000, 2)} s (${fmt(pipelinedMs / CALLS, 1)} ms/call) | **${fmt(ratio, 2)}×** | ${goal} |`,
      );
    }
    figures.final_step = (await run.refresh()).current_step;
  } finally {
    await client.close();
    await proxy.close();
    await server.stop();
  }
  const markdown = [
    "## Pipelined training calls (TrainingClient, through a latency proxy)",
    "",
    `${CALLS} \`trainBatch\` calls awaited one by one (\`maxInFlight: 1\`) against the same ${CALLS} made at once without awaiting (\`maxInFlight\` 8, the default), on one run of \`signal-byte-tiny\` (2 examples per batch), \`signal serve\` in its own process behind a TCP proxy that holds every chunk for the added latency in each direction (\`scripts/bench/latency-proxy.ts\`). Both loops apply every step once, in call order (the run ends at step ${figures.final_step}).`,
    "",
    "| added latency each way | awaited one by one | un-awaited, 8 in flight | pipelined / awaited | goal |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  return { markdown, figures };
}
