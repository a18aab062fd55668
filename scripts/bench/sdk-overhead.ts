import { cpus, loadavg } from "node:os";
import OpenAI from "openai";
import { SignalClient, VERSION } from "../../src/index.js";
import { startServerProcess } from "./server-process.js";
import { fmt, median, percentile } from "./stats.js";

/**
 * What the SDK adds to a call: the median time of `getRun` and `sample` through SignalClient
 * next to a raw `fetch` of the same request (same URL, headers and body, an Idempotency-Key on
 * the POST like the SDK's), against the local server in its own process. The calls run
 * interleaved, in an order that alternates every round, so the drift of a shared machine hits
 * them alike; the ratio is of medians from the same block of rounds, and the table gives the
 * median and the spread of that ratio over several blocks. Goal: ≤ 1.10× for both.
 *
 * Two more getRun rows place the figure: a raw fetch with the abort plumbing every attempt of
 * any client needs (an AbortController whose signal goes to fetch, a timeout timer), and
 * openai-node's client sending the same GET through its own core (`client.get`), with its
 * retries and timeout on as SignalClient's are. Then the SDK's own JavaScript per getRun, timed
 * in-process with fetch answered at once, layer by layer.
 */
export async function benchSdkOverhead(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const server = await startServerProcess();
  const figures: Record<string, number> = {};
  const loadBefore = loadavg()[0]!;
  try {
    const client = new SignalClient({ apiKey: server.apiKey, baseUrl: server.url });
    const openai = new OpenAI({ apiKey: server.apiKey, baseURL: `${server.url}/v1` });
    const run = await client.createRun({ base_model: "signal-byte-tiny", seed: 1 });
    const runId = run.run_id;
    const name = `frontier-signal/${VERSION} (node/${process.versions.node} ${process.platform})`;
    const headers = { authorization: `Bearer ${server.apiKey}`, "x-signal-client": name, "user-agent": name };
    const prompts = ["Q: hi\nA:"];
    const params = { max_tokens: 1, temperature: 0 } as const;
    let key = 0;
    const calls: Record<string, () => Promise<unknown>> = {
      "getRun: raw fetch": () => fetch(`${server.url}/v1/runs/${runId}`, { headers }).then((r) => r.json()),
      "getRun: raw fetch + AbortController + timer": () => {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 60_000);
        return fetch(`${server.url}/v1/runs/${runId}`, { headers, signal: controller.signal })
          .then((r) => r.json())
          .finally(() => clearTimeout(timer));
      },
      "getRun: SignalClient": () => client.getRun(runId),
      "getRun: openai client": () => openai.get(`/runs/${runId}`),
      "sample: raw fetch": () =>
        fetch(`${server.url}/v1/runs/${runId}/sample`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json", "idempotency-key": `bench-${++key}` },
          body: JSON.stringify({ ...params, prompts, stream: false }),
        }).then((r) => r.json()),
      "sample: SignalClient": () => client.sample(runId, prompts, params),
    };
    const names = Object.keys(calls);
    for (let i = 0; i < 30; i++) for (const fn of Object.values(calls)) await fn();
    const rounds = Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 400);
    const blocks = Number(process.env.BENCH_OVERHEAD_BLOCKS ?? 5);
    const all: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const ratios: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let block = 0; block < blocks; block++) {
      const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
      for (let i = 0; i < rounds; i++) {
        const order = i % 2 === 0 ? names : [...names].reverse();
        for (const n of order) {
          const started = performance.now();
          await calls[n]!();
          times[n]!.push(performance.now() - started);
        }
      }
      for (const n of names) {
        all[n]!.push(...times[n]!);
        const raw = times[`${n.split(":")[0]}: raw fetch`]!;
        ratios[n]!.push(median(times[n]!) / median(raw));
      }
    }
    const loadAfter = loadavg()[0]!;
    const lines = ["## SDK overhead (SignalClient vs raw fetch of the same request)", ""];
    lines.push(
      `\`npm run bench -- "SDK overhead"\`: ${blocks} blocks of ${rounds} rounds of the ${names.length} calls, interleaved (order alternating each round), against \`signal serve\` in its own process over loopback; \`sample\` asks for 1 token from \`signal-byte-tiny\`. Each ratio is the median call over the median raw fetch of the same block; the table gives the median of the ${blocks} blocks' ratios and their range. Load average ${fmt(loadBefore)} at the start, ${fmt(loadAfter)} at the end, on ${cpus().length} cores shared with other work. Goal: ≤ 1.10×.`,
      "",
    );
    lines.push("| call | median ms | p90 ms | / raw fetch (median of blocks) | range over blocks |", "|---|---|---|---|---|");
    for (const n of names) {
      const ratio = median(ratios[n]!);
      const slug = n.replace(/[^a-zA-Z]+/g, "_").replace(/_$/, "");
      figures[`${slug}_median_ms`] = median(all[n]!);
      figures[`${slug}_ratio`] = ratio;
      const isRaw = n.endsWith(": raw fetch");
      const shown = isRaw ? "1.00×" : n === "getRun: SignalClient" || n === "sample: SignalClient" ? `**${fmt(ratio)}×**` : `${fmt(ratio)}×`;
      lines.push(
        `| ${n} | ${fmt(median(all[n]!), 3)} | ${fmt(percentile(all[n]!, 90), 3)} | ${shown} | ${isRaw ? "" : `${fmt(Math.min(...ratios[n]!))}–${fmt(Math.max(...ratios[n]!))}×`} |`,
      );
    }
    figures.load_average_start = loadBefore;
    figures.load_average_end = loadAfter;
    lines.push("");
    await client.close();
    const layers = await sdkJavaScript(runId);
    lines.push(
      "Where the SDK's own time goes in a getRun, apart from the network: CPU µs per call in this process with `fetch` answering at once from memory (the same 385-byte `Run`), each layer alone, median of 9 × 5,000 calls:",
      "",
      "| layer | CPU µs per call |",
      "|---|---|",
    );
    for (const [label, [key, us]] of Object.entries(layers)) {
      figures[`js_${key}_cpu_us`] = us;
      lines.push(`| ${label} | ${fmt(us, 1)} |`);
    }
    const added = (n: string) => (median(all[n]!) - median(all["getRun: raw fetch"]!)) * 1000;
    lines.push(
      "",
      `Live, SignalClient adds ${fmt(added("getRun: SignalClient"), 0)} µs to the median raw getRun and openai-node's client ${fmt(added("getRun: openai client"), 0)} µs; an AbortController and timer alone add ${fmt(added("getRun: raw fetch + AbortController + timer"), 0)} µs live against ${fmt(layers["for comparison: an AbortController and its signal, a timer set and cleared"]![1], 1)} µs of CPU in-process, and the SDK's whole getRun is ${fmt(layers["getRun through SignalClient, all of it"]![1], 1)} µs of CPU in-process: on this shared machine a call's wall time grows by a multiple of the CPU it adds.`,
      "",
    );
    return { markdown: lines.join("\n"), figures };
  } finally {
    await server.stop();
  }
}

/** The SDK's JavaScript per getRun and its main layers, with `fetch` answered in-process. */
async function sdkJavaScript(runId: string): Promise<Record<string, [string, number]>> {
  const body = new TextEncoder().encode(
    JSON.stringify({
      object: "run",
      run_id: runId,
      base_model: "signal-byte-tiny",
      lora_r: 8,
      lora_alpha: 16,
      target_modules: ["q_proj", "v_proj"],
      learning_rate: 0.0005,
      seed: 1,
      optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0 },
      name: null,
      metadata: {},
      status: "active",
      current_step: 0,
      created_at: "2026-12-06T05:20:51.894Z",
      updated_at: "2026-12-06T05:20:51.894Z",
    }),
  ).buffer;
  const headers = new Headers({ "content-type": "application/json", "x-request-id": "req_0123456789abcdef" });
  const answer = { ok: true, status: 200, statusText: "OK", headers, url: "", body: null, arrayBuffer: async () => body };
  const { zGetRunResponse } = await import("../../generated/zod/zod.gen.js");
  const { tolerantSchema } = await import("../../src/internal/tolerant-reader.js");
  const { safeParseExpectingSuccess } = await import("../../src/internal/validate.js");
  const { fastCheck } = await import("../../src/internal/fast-check.js");
  const { attemptAbort } = await import("../../src/internal/attempt-abort.js");
  const { Pool } = await import("../../src/internal/pool.js");
  const pool = new Pool(undefined);
  const reader = tolerantSchema(zGetRunResponse);
  const quick = fastCheck(reader)!;
  const text = new TextDecoder().decode(body);
  const real = globalThis.fetch;
  globalThis.fetch = (async () => answer) as unknown as typeof fetch;
  try {
    const client = new SignalClient({ apiKey: "sk-bench", baseUrl: "http://127.0.0.1:9" });
    const layers: Record<string, [string, () => unknown]> = {
      "getRun through SignalClient, all of it": ["getRun", () => client.getRun(runId)],
      "of which: the attempt's abort handle and timeout (a LightAbort, its node in the pool's timer list)": [
        "abort_plumbing",
        () => {
          const controller = attemptAbort(true);
          pool.untrack(pool.track(controller, Date.now() + 60_000));
          return controller.signal;
        },
      ],
      "for comparison: an AbortController and its signal, a timer set and cleared": [
        "abort_controller_timer",
        () => {
          const controller = new AbortController();
          clearTimeout(setTimeout(() => controller.abort(), 60_000));
          return controller.signal;
        },
      ],
      "of which: JSON.parse of the body (a raw fetch's `json()` does it too)": ["json_parse", () => JSON.parse(text)],
      "of which: checking the body against the spec (the quick check, fast-check.ts)": ["response_check", () => quick(JSON.parse(text))],
      "for comparison: the same check by zod (tolerant reader)": ["response_check_zod", () => safeParseExpectingSuccess(reader, JSON.parse(text))],
    };
    const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(layers).map((n) => [n, []]));
    for (let rep = 0; rep < 11; rep++) {
      for (const [label, [, fn]] of Object.entries(layers)) {
        const started = process.cpuUsage();
        for (let i = 0; i < 5_000; i++) await fn();
        const used = process.cpuUsage(started);
        if (rep >= 2) cpu[label]!.push((used.user + used.system) / 5_000);
      }
    }
    await client.close();
    const out: Record<string, [string, number]> = Object.fromEntries(Object.entries(cpu).map(([label, us]) => [label, [layers[label]![0], median(us)]]));
    // The checks' rows time a JSON.parse too: report the checks alone.
    for (const label of [
      "of which: checking the body against the spec (the quick check, fast-check.ts)",
      "for comparison: the same check by zod (tolerant reader)",
    ]) {
      const check = out[label]!;
      check[1] = Math.max(0, check[1] - out["of which: JSON.parse of the body (a raw fetch's `json()` does it too)"]![1]);
    }
    return out;
  } finally {
    globalThis.fetch = real;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchSdkOverhead()).markdown);
  process.exit(0);
}
