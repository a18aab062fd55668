// Run store benchmark: what one training step and getHealth cost with 1k, 10k and 100k steps on
// record, on the SQLite store and (for the "before") the state-file format it replaced.
// `npx tsx scripts/bench/run-store.ts` prints the markdown; `scripts/bench/index.ts` calls
// `benchRunStore()`.
//
// History is synthesised through the store's own API (`RunStore.appendHistory`: metric rows and
// the 1,000 idempotency records a run keeps), then the server is started as its own process and
// timed over HTTP: train_step with one example on `signal-byte-tiny`, each with an
// Idempotency-Key as the SDK sends it, while another client polls getHealth.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { writeFileAtomic } from "../../src/server/store/atomic-write.js";
import { IDEMPOTENCY_DEFAULTS, RunStore } from "../../src/server/store/run-store.js";
import { encodeStateFile } from "../../src/server/store/state-file.js";
import { startServerProcess } from "./server-process.js";
import { fmt, median, percentile } from "./stats.js";

const SIZES = [1_000, 10_000, 100_000];
const STEPS = 60;
const BATCH = [{ prompt: "Q: red?\nA:", completion: " apple\n" }];

interface Figures {
  stepP50: number;
  healthP50: number;
  healthP99: number;
  healthMax: number;
}

function metricsUpTo(n: number) {
  const created_at = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => ({ step: i + 1, loss: 1 + 1 / (i + 1), grad_norm: 0.5, learning_rate: 0.01, num_tokens: 8, created_at }));
}

function idempotencyRecords(n: number): [string, { request_hash: string; status: number; body: unknown; created_at: number }][] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => [
    `${i.toString(16).padStart(8, "0")}${"0".repeat(56)}`,
    {
      request_hash: "f".repeat(64),
      status: 200,
      body: { step: i + 1, loss: 1.5, grad_norm: 0.5, learning_rate: 0.01, num_tokens: 8, num_examples: 1 },
      created_at: now - n + i,
    },
  ]);
}

/** A data dir holding one run with `steps` steps on record, made through the server and the store's API. */
async function runWithHistory(steps: number): Promise<{ dataDir: string; runId: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "signal-bench-store-"));
  const server = await startServerProcess({ workers: 1, dataDir });
  const auth = { authorization: `Bearer ${server.apiKey}`, "content-type": "application/json" };
  const created = await fetch(`${server.url}/v1/runs`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ base_model: "signal-byte-tiny", seed: 1, lora_r: 4 }),
  });
  const runId = ((await created.json()) as { run_id: string }).run_id;
  await server.stop();
  const store = await RunStore.open(dataDir);
  try {
    const record = { ...store.get(runId)!, current_step: steps };
    store.appendHistory(record, { metrics: metricsUpTo(steps), idempotency: idempotencyRecords(IDEMPOTENCY_DEFAULTS.maxPerRun) });
  } finally {
    store.close();
  }
  return { dataDir, runId };
}

/**
 * Times STEPS train_steps on each run, interleaved across the runs (so the machine's drift hits
 * every size alike), while one loop per server polls its getHealth; all over HTTP to one server
 * process per run.
 */
async function timeSteps(runs: { dataDir: string; runId: string }[]): Promise<Figures[]> {
  const servers = await Promise.all(runs.map(({ dataDir }) => startServerProcess({ workers: 1, dataDir })));
  try {
    const stepOf = (k: number) => {
      const server = servers[k]!;
      const headers = { authorization: `Bearer ${server.apiKey}`, "content-type": "application/json" };
      return (i: number) =>
        fetch(`${server.url}/v1/runs/${runs[k]!.runId}/train_step`, {
          method: "POST",
          headers: { ...headers, "idempotency-key": `bench-${i}` },
          body: JSON.stringify({ batch: BATCH }),
        }).then(async (r) => {
          if (r.status !== 200) throw new Error(`train_step ${r.status}: ${await r.text()}`);
          await r.arrayBuffer();
        });
    };
    const steps = runs.map((_, k) => stepOf(k));
    for (let i = 0; i < 5; i++) for (const step of steps) await step(-1 - i);
    const health: number[][] = runs.map(() => []);
    let stepping = true;
    const polls = servers.map(async (server, k) => {
      while (stepping) {
        const t = performance.now();
        await (await fetch(`${server.url}/v1/health`)).arrayBuffer();
        health[k]!.push(performance.now() - t);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    const times: number[][] = runs.map(() => []);
    for (let i = 0; i < STEPS; i++) {
      for (const [k, step] of steps.entries()) {
        const t = performance.now();
        await step(i);
        times[k]!.push(performance.now() - t);
      }
    }
    stepping = false;
    await Promise.all(polls);
    return runs.map((_, k) => ({
      stepP50: median(times[k]!),
      healthP50: median(health[k]!),
      healthP99: percentile(health[k]!, 99),
      healthMax: Math.max(...health[k]!),
    }));
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

/**
 * The write each step of the state-file format made: the whole run (header with every metric and
 * up to 1,000 idempotency records, plus the tensors) encoded and atomically replaced with fsyncs.
 */
async function stateFileWriteP50(steps: number, tensors: Record<string, Uint8Array>): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "signal-bench-statefile-"));
  try {
    const header = {
      run_id: "run_0000000000000000",
      current_step: steps,
      metrics: metricsUpTo(steps),
      idempotency: Object.fromEntries(idempotencyRecords(IDEMPOTENCY_DEFAULTS.maxPerRun)),
    };
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t = performance.now();
      header.current_step++;
      await writeFileAtomic(join(dir, "state.bin"), encodeStateFile(header, tensors));
      times.push(performance.now() - t);
    }
    return median(times.slice(3));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchRunStore(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const figures: Record<string, number> = {};
  const rows: string[] = [];
  const runs: { dataDir: string; runId: string }[] = [];
  const results = new Map<number, Figures>();
  let tensors: Record<string, Uint8Array> = {};
  try {
    for (const n of SIZES) runs.push(await runWithHistory(n));
    const store = await RunStore.open(runs[0]!.dataDir);
    const state = await store.readState(runs[0]!.runId);
    store.close();
    tensors = { adapter: state.adapter, optimizer: state.optimizer };
    const measured = await timeSteps(runs);
    for (const [k, n] of SIZES.entries()) results.set(n, measured[k]!);
  } finally {
    for (const { dataDir } of runs) rmSync(dataDir, { recursive: true, force: true });
  }
  const oldWrites = new Map<number, number>();
  for (const n of SIZES) oldWrites.set(n, await stateFileWriteP50(n, tensors));
  const base = results.get(SIZES[0]!)!;
  const oldBase = oldWrites.get(SIZES[0]!)!;
  for (const n of SIZES) {
    const r = results.get(n)!;
    const old = oldWrites.get(n)!;
    figures[`${n} steps: train_step p50 ms`] = r.stepP50;
    figures[`${n} steps: train_step p50 vs 1k`] = r.stepP50 / base.stepP50;
    figures[`${n} steps: getHealth p50 ms`] = r.healthP50;
    figures[`${n} steps: getHealth p99 ms`] = r.healthP99;
    figures[`${n} steps: getHealth max ms`] = r.healthMax;
    figures[`${n} steps: state-file write p50 ms (before)`] = old;
    rows.push(
      `| ${n.toLocaleString("en")} | ${fmt(r.stepP50, 1)} | ${fmt(r.stepP50 / base.stepP50)}× | ${fmt(r.healthP50, 1)} / ${fmt(r.healthP99, 1)} / ${fmt(r.healthMax, 1)} | ${fmt(old, 1)} (${fmt(old / oldBase)}×) |`,
    );
  }
  const markdown = [
    "## Run store: step cost and health with a long record",
    "",
    `One run on \`signal-byte-tiny\` (lora_r 4) with N steps on record (metric rows plus the ${IDEMPOTENCY_DEFAULTS.maxPerRun.toLocaleString("en")} idempotency records a run keeps, synthesised through \`RunStore.appendHistory\`), one server process per run. ${STEPS} timed \`train_step\` calls per run (one example, an Idempotency-Key each), interleaved across the runs, while one client per server polls its getHealth every 5 ms. Each step is one SQLite transaction (WAL, synchronous=FULL): header and tensors updated, metric row and idempotency record appended.`,
    "",
    "The last column is the write each step of the state-file format did (the whole run re-encoded with every metric and record, atomically replaced with fsyncs), timed alone for the same N: the before.",
    "",
    "| steps on record | train_step p50 ms | vs 1k | getHealth p50 / p99 / max ms | state-file write p50 ms (vs 1k) |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
  return { markdown, figures };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { markdown } = await benchRunStore();
  process.stdout.write(markdown);
}
