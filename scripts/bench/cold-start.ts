import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { fmt, median } from "./stats.js";

const root = new URL("../..", import.meta.url).pathname;

/**
 * Cold start of the SDK: the size of `import "frontier-signal"` bundled and minified (esbuild),
 * whether the server or the tensor library got into it, and the time for a fresh node process
 * to import the bundle, against a process that imports nothing.
 */
export async function benchColdStart(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), "signal-bench-"));
  const outfile = join(dir, "sdk.mjs");
  const result = await build({
    entryPoints: [join(root, "src/index.ts")],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outfile,
    metafile: true,
    logLevel: "silent",
  });
  const inputs = Object.keys(result.metafile.inputs);
  const leaked = inputs.filter((i) => i.includes("src/server") || i.includes("@tensorflow"));
  const bytes = readFileSync(outfile);
  const gzip = gzipSync(bytes).length;

  const empty = join(dir, "empty.mjs");
  writeFileSync(empty, "");
  const timeImport = (file: string) => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const out = execFileSync(process.execPath, [
        "--input-type=module",
        "-e",
        `const t=performance.now(); await import(${JSON.stringify(file)}); console.log(performance.now()-t)`,
      ]);
      times.push(Number(out.toString()));
    }
    return median(times);
  };
  const importMs = timeImport(outfile);
  const baselineMs = timeImport(empty);
  const figures = {
    bundle_bytes: bytes.length,
    bundle_gzip_bytes: gzip,
    bundle_inputs: inputs.length,
    server_or_tfjs_modules_in_bundle: leaked.length,
    import_ms: importMs,
    import_empty_ms: baselineMs,
  };
  const markdown = [
    "## Cold start",
    "",
    "| measure | value |",
    "|---|---|",
    `| bundle of \`import "frontier-signal"\` (esbuild, minified, all deps inlined) | ${fmt(bytes.length / 1024, 1)} KiB (${fmt(gzip / 1024, 1)} KiB gzip), ${inputs.length} modules |`,
    `| modules from \`src/server\` or \`@tensorflow\` in the bundle | ${leaked.length} |`,
    `| time to import the bundle in a fresh process (median of 15) | ${fmt(importMs)} ms (an empty module: ${fmt(baselineMs)} ms) |`,
    "",
  ].join("\n");
  return { markdown, figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchColdStart()).markdown);
}
