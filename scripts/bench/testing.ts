// The start-up of frontier-signal/testing's two servers, as an app's test file pays it:
// createMockServer (Prism + proxy) and createLocalServer (the reference server with one worker).
// Prism's own CPU time up to listening is read from /proc: unlike wall time it hardly depends
// on what else the shared machine runs.
import { readFileSync, readdirSync } from "node:fs";
import { createLocalServer, createMockServer } from "../../src/testing/index.js";
import { fmt, median } from "./stats.js";

const RUNS = 3;

/** CPU milliseconds (user + system) of the Prism child of this process. */
function prismCpuMs(): number {
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== process.pid || !readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("prism-cli")) continue;
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      // ended while we looked
    }
  }
  return Number.NaN;
}

export async function benchTestingServers(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const mock = { start: [] as number[], prismCpu: [] as number[], first: [] as number[], close: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const server = await createMockServer();
    mock.start.push(performance.now() - t0);
    mock.prismCpu.push(prismCpuMs());
    const t1 = performance.now();
    await (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${server.apiKey}` } })).text();
    mock.first.push(performance.now() - t1);
    const t2 = performance.now();
    await server.close();
    mock.close.push(performance.now() - t2);
  }
  const local = { start: [] as number[], first: [] as number[], close: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const server = await createLocalServer();
    local.start.push(performance.now() - t0);
    const t1 = performance.now();
    await (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${server.apiKey}` } })).text();
    local.first.push(performance.now() - t1);
    const t2 = performance.now();
    await server.close();
    local.close.push(performance.now() - t2);
  }
  const figures = {
    mock_start_ms: median(mock.start),
    mock_prism_cpu_to_listening_ms: median(mock.prismCpu),
    mock_first_answer_ms: median(mock.first),
    mock_close_ms: median(mock.close),
    local_start_ms: median(local.start),
    local_first_answer_ms: median(local.first),
    local_close_ms: median(local.close),
  };
  const ms = (values: number[]) => `${fmt(median(values), 0)} ms (${values.map((v) => fmt(v, 0)).join(", ")})`;
  const markdown = [
    "## frontier-signal/testing start-up",
    "",
    `Median of ${RUNS} starts in one process (each run listed). Wall times grow with the machine's load; Prism's CPU time does not, much.`,
    "",
    "| server | start (wall) | first answer | close |",
    "|---|---|---|---|",
    `| \`createMockServer()\` | ${ms(mock.start)}; Prism CPU to listening ${ms(mock.prismCpu)} | ${ms(mock.first)} | ${ms(mock.close)} |`,
    `| \`createLocalServer()\` (1 worker, tiny model default) | ${ms(local.start)} | ${ms(local.first)} | ${ms(local.close)} |`,
    "",
  ].join("\n");
  return { markdown, figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchTestingServers()).markdown);
}
