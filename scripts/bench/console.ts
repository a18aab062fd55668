// Web console benchmark: first render of a run page with 10,000 metric rows in Debian's
// Chromium. `npm run bench -- console` writes its section of BENCHMARKS.md.
//
// The console is built with Vite as `npm run build` builds it (into a temporary directory); a run
// gets 10,000 metric rows through the store's own API (`RunStore.appendHistory`), then the server
// is started in this process with that console and the page is opened fresh for each timing, the
// key placed in the tab's sessionStorage (as signing in leaves it). Timed: navigation start to
// the page's `console:run-rendered` mark (every row read through listMetrics and the five charts
// drawn), read from the page's own performance timeline, and the same seen from outside
// (`page.goto` until the mark exists).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../../src/server/index.js";
import { RunStore } from "../../src/server/store/run-store.js";
import { fmt, median } from "./stats.js";

const ROWS = 10_000;
const RUNS = 7;
const root = fileURLToPath(new URL("../..", import.meta.url));
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

function metricRows(n: number) {
  const start = Date.now() - n * 1000;
  return Array.from({ length: n }, (_, i) => ({
    step: i + 1,
    loss: 1 + 3 / (1 + i / 50) + 0.1 * Math.sin(i),
    grad_norm: 0.5 + 0.2 * Math.cos(i / 7),
    learning_rate: 0.0005,
    num_tokens: 512,
    token_accuracy: Math.min(1, i / n + 0.1),
    ...(i % 100 === 99 ? { eval_loss: 1.2 + 3 / (1 + i / 50), eval_token_accuracy: Math.min(1, i / n) } : {}),
    created_at: new Date(start + i * 1000).toISOString(),
  }));
}

export async function benchConsole(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const consoleDir = mkdtempSync(join(tmpdir(), "signal-bench-console-"));
  const dataDir = mkdtempSync(join(tmpdir(), "signal-bench-console-data-"));
  const profile = mkdtempSync(join(tmpdir(), "signal-bench-chromium-"));
  const apiKey = "sk-bench-console";
  try {
    execFileSync(
      process.execPath,
      [join(root, "node_modules/vite/bin/vite.js"), "build", "--config", join(root, "console/vite.config.mjs"), "--outDir", consoleDir],
      {
        cwd: root,
        stdio: "ignore",
      },
    );
    let server = await startServer({ port: 0, workers: 1, dataDir, apiKeys: [apiKey], log: false, console: false });
    const created = await fetch(`${server.url}/v1/runs`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ base_model: "signal-byte-tiny", seed: 1, lora_r: 4 }),
    });
    const runId = ((await created.json()) as { run_id: string }).run_id;
    await server.close();
    const store = await RunStore.open(dataDir);
    try {
      store.appendHistory({ ...store.get(runId)!, current_step: ROWS }, { metrics: metricRows(ROWS) });
    } finally {
      store.close();
    }
    server = await startServer({ port: 0, workers: 1, dataDir, apiKeys: [apiKey], log: false, consoleDir });
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 900 },
    });
    const load: number[] = [];
    const inPage: number[] = [];
    const outside: number[] = [];
    try {
      await context.addInitScript((key) => sessionStorage.setItem("frontier-signal-console.api-key", key), apiKey);
      for (let i = 0; i < RUNS + 1; i++) {
        const page = await context.newPage();
        const started = performance.now();
        await page.goto(`${server.url}/#/runs/${runId}`);
        await page.waitForFunction((rows) => document.body.dataset.runRendered === String(rows), ROWS, { timeout: 60_000 });
        const elapsed = performance.now() - started;
        const mark = await page.evaluate(() => performance.getEntriesByName("console:run-rendered")[0]?.startTime ?? Number.NaN);
        await page.close();
        if (i === 0) continue; // warm-up: the first load also fills the browser's caches
        inPage.push(mark);
        load.push(loadavg()[0] ?? Number.NaN);
        outside.push(elapsed);
      }
    } finally {
      await context.close();
      await server.close();
    }
    const figures = {
      run_page_10k_rows_first_render_ms: median(inPage),
      run_page_10k_rows_goto_to_render_ms: median(outside),
      load_average_1m: median(load),
    };
    const markdown = [
      "## Web console: first render of a run page with 10,000 metric rows",
      "",
      `\`npm run bench -- console\`. A run with ${ROWS.toLocaleString("en")} metric rows (written through \`RunStore.appendHistory\`), the console built by Vite, the server in the benchmark's process, Debian's Chromium (headless) through playwright-core; a fresh tab per timing with the key in its sessionStorage, ${RUNS} timings after one warm-up. "First render": navigation start to the page's \`console:run-rendered\` mark, after all rows were read through \`listMetrics\` (10 pages of 1,000) and the loss, grad_norm, accuracy, learning-rate and tokens/s charts drawn. Goal: under 1 s.`,
      "",
      "| figure | median |",
      "|---|---|",
      `| first render (in-page mark), ms | ${fmt(figures.run_page_10k_rows_first_render_ms, 0)} |`,
      `| \`page.goto\` until rendered (outside), ms | ${fmt(figures.run_page_10k_rows_goto_to_render_ms, 0)} |`,
      `| 1-minute load average of the machine meanwhile (2 cores) | ${fmt(figures.load_average_1m, 1)} |`,
      "",
    ].join("\n");
    return { markdown, figures };
  } finally {
    for (const dir of [consoleDir, dataDir, profile]) rmSync(dir, { recursive: true, force: true });
  }
}
