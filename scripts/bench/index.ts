// `npm run bench`: every benchmark, side by side in one run, written to BENCHMARKS.md with the
// command and the machine. Figures are medians of repeated runs; comparisons are ratios measured
// in the same run, because this machine is shared and noisy.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";

type Section = () => Promise<{ markdown: string; figures: Record<string, number> }>;

const sections: Array<[string, () => Promise<Section>]> = [
  ["cold start", async () => (await import("./cold-start.js")).benchColdStart],
  ["client bundle and import cost", async () => (await import("./bundle-size.js")).benchBundleSize],
  ["SDK overhead", async () => (await import("./sdk-overhead.js")).benchSdkOverhead],
  ["SDK against the local server", async () => (await import("./sdk.js")).benchSdk],
  ["engine", async () => (await import("./engine.js")).benchEngine],
  ["Hugging Face checkpoint", async () => (await import("./hf-model.js")).benchHfModel],
  ["testing servers", async () => (await import("./testing.js")).benchTestingServers],
  ["run store", async () => (await import("./run-store.js")).benchRunStore],
  ["server bounds", async () => (await import("./server-bounds.js")).benchServerBounds],
  ["pipelined training calls", async () => (await import("./pipelining.js")).benchPipelining],
  ["console", async () => (await import("./console.js")).benchConsole],
];

const only = process.argv.slice(2);
const parts: string[] = [];
const all: Record<string, Record<string, number>> = {};
for (const [name, load] of sections) {
  if (only.length > 0 && !only.some((o) => name.includes(o))) continue;
  const started = performance.now();
  process.stderr.write(`bench: ${name}...\n`);
  const { markdown, figures } = await (await load())();
  all[name] = figures;
  parts.push(markdown);
  process.stderr.write(`bench: ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

const cpu = cpus();
const header = [
  "# Benchmarks",
  "",
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}.`,
  `Machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}/${process.arch}.`,
  "The machine is shared: compare the ratios measured within one run, not absolute figures across runs.",
  "",
].join("\n");
const markdown = `${header}\n${parts.join("\n")}\n<details><summary>Raw figures</summary>\n\n\`\`\`json\n${JSON.stringify(all, null, 2)}\n\`\`\`\n</details>\n`;
const target = new URL("../../BENCHMARKS.md", import.meta.url);
if (only.length === 0) writeFileSync(target, markdown);
else {
  // `npm run bench -- <section>`: that section's tables and raw figures replace their earlier
  // version in BENCHMARKS.md; the other sections stay as their last full run wrote them.
  writeFileSync(target, spliceSections(readFileSync(target, "utf8"), parts, all));
  process.stdout.write(parts.join("\n"));
}
process.exit(0);

function spliceSections(existing: string, fresh: string[], figures: Record<string, Record<string, number>>): string {
  let text = existing;
  const detailsAt = () => (text.indexOf("<details>") < 0 ? text.length : text.indexOf("<details>"));
  for (const part of fresh) {
    const heading = part.split("\n", 1)[0]!;
    const start = text.indexOf(`${heading}\n`);
    if (start < 0) {
      text = `${text.slice(0, detailsAt())}${part}\n${text.slice(detailsAt())}`;
      continue;
    }
    const next = text.slice(start + heading.length).search(/\n## |\n<details>/);
    const end = next < 0 ? text.length : start + heading.length + next + 1;
    text = `${text.slice(0, start)}${part}\n${text.slice(end)}`;
  }
  const raw = /```json\n([\s\S]*?)\n```/.exec(text);
  if (raw?.[1]) text = text.replace(raw[1], JSON.stringify({ ...(JSON.parse(raw[1]) as object), ...figures }, null, 2));
  return text;
}
