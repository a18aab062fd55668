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
    // CommonJS dependencies (cli-progress) call require() for Node built-ins.
    banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' },
  });
  const inputs = Object.keys(result.metafile.inputs);
  const leaked = inputs.filter((i) => i.includes("src/server") || i.includes("@tensorflow"));
  const bytes = readFileSync(outfile);
  // Bytes each package (or the project's own code) contributes to the output.
  const byPackage = new Map<string, number>();
  for (const [path, info] of Object.entries(result.metafile.outputs[Object.keys(result.metafile.outputs)[0] ?? ""]?.inputs ?? {})) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
    const name = match?.[1] ?? (path.startsWith("generated/") ? "generated/ (zod schemas)" : "src/");
    byPackage.set(name, (byPackage.get(name) ?? 0) + info.bytesInOutput);
  }
  const largest = [...byPackage.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
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
    `| largest parts of the bundle | ${largest.map(([name, n]) => `${name} ${fmt(n / 1024, 1)} KiB`).join(", ")} |`,
    "",
  ].join("\n");
  return { markdown, figures };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log((await benchColdStart()).markdown);
}
