import { SignalClient, VERSION } from "../../src/index.js";
import { startServerProcess } from "./server-process.js";
import { fmt, median, percentile } from "./stats.js";

/**
 * What the SDK adds to a call: the median time of `getRun` and `sample` through SignalClient
 * next to a raw `fetch` of the same request (same URL, headers and body, an Idempotency-Key on
 * the POST like the SDK's), against the local server in its own process. The four calls run
 * interleaved, in an order that alternates every round, so the drift of a shared machine hits
 * them alike; the ratio is of medians from the same run. Goal: ≤ 1.10× for both.
 */
export async function benchSdkOverhead(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const server = await startServerProcess();
  const figures: Record<string, number> = {};
  try {
    const client = new SignalClient({ apiKey: server.apiKey, baseUrl: server.url });
    const run = await client.createRun({ base_model: "signal-byte-tiny", seed: 1 });
    const runId = run.run_id;
    const name = `frontier-signal/${VERSION} (node/${process.versions.node} ${process.platform})`;
    const headers = { authorization: `Bearer ${server.apiKey}`, "x-signal-client": name, "user-agent": name };
    const prompts = ["Q: hi\nA:"];
    const params = { max_tokens: 1, temperature: 0 } as const;
    let key = 0;
    const calls: Record<string, () => Promise<unknown>> = {
      "getRun: raw fetch": () => fetch(`${server.url}/v1/runs/${runId}`, { headers }).then((r) => r.json()),
      "getRun: SignalClient": () => client.getRun(runId),
      "sample: raw fetch": () =>
        fetch(`${server.url}/v1/runs/${runId}/sample`, {
          method: "POST",
          headers: { ...headers, "content-type": "application/json", "idempotency-key": `bench-${++key}` },
          body: JSON.stringify({ ...params, prompts, stream: false }),
        }).then((r) => r.json()),
      "sample: SignalClient": () => client.sample(runId, prompts, params),
    };
    const names = Object.keys(calls);
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let i = 0; i < 30; i++) for (const fn of Object.values(calls)) await fn();
    const rounds = Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 400);
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? names : [...names].reverse();
      for (const n of order) {
        const started = performance.now();
        await calls[n]!();
        times[n]!.push(performance.now() - started);
      }
    }
    const lines = ["## SDK overhead (SignalClient vs raw fetch of the same request)", ""];
    lines.push(
      `${rounds} rounds of the four calls, interleaved (order alternating each round), against \`signal serve\` in its own process over loopback; \`sample\` asks for 1 token from \`signal-byte-tiny\`. Goal: ≤ 1.10×.`,
      "",
    );
    lines.push("| call | median ms | p90 ms | SDK / raw (medians) |", "|---|---|---|---|");
    for (const op of ["getRun", "sample"]) {
      const raw = times[`${op}: raw fetch`]!;
      const sdk = times[`${op}: SignalClient`]!;
      const ratio = median(sdk) / median(raw);
      figures[`${op}_raw_median_ms`] = median(raw);
      figures[`${op}_sdk_median_ms`] = median(sdk);
      figures[`${op}_ratio`] = ratio;
      lines.push(`| ${op}: raw fetch | ${fmt(median(raw), 3)} | ${fmt(percentile(raw, 90), 3)} | |`);
      lines.push(
        `| ${op}: SignalClient | ${fmt(median(sdk), 3)} | ${fmt(percentile(sdk, 90), 3)} | **${fmt(ratio)}×** (+${fmt((median(sdk) - median(raw)) * 1000, 0)} µs) |`,
      );
    }
    lines.push("");
    await client.close();
    return { markdown: lines.join("\n"), figures };
  } finally {
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchSdkOverhead()).markdown);
  process.exit(0);
}
