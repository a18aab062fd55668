import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build, type Platform } from "esbuild";
import { fmt, median } from "./stats.js";

const repo = new URL("../..", import.meta.url).pathname;

/** Goals of the client entry (issue "runs everywhere"): bytes after min+gzip, ms of import. */
export const GOALS = { client_gzip_bytes: 25 * 1024, api_error_gzip_bytes: 2 * 1024, import_ms_over_empty: 25 } as const;

async function bundle(root: string, source: string, platform: Platform): Promise<{ bytes: Uint8Array; gzip: number; parts: Map<string, number> }> {
  const result = await build({
    stdin: { contents: source, resolveDir: root, loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform,
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const bytes = result.outputFiles[0]!.contents;
  const parts = new Map<string, number>();
  for (const [path, info] of Object.entries(Object.values(result.metafile.outputs)[0]?.inputs ?? {})) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? (path.startsWith("generated/") ? "generated/" : "src/");
    parts.set(name, (parts.get(name) ?? 0) + info.bytesInOutput);
  }
  return { bytes, gzip: gzipSync(bytes).length, parts };
}

/**
 * Wall and CPU milliseconds for a fresh node process to import `file` (median of `runs`). CPU
 * time is the one to compare on a shared machine: it does not count waiting for a core.
 */
function importTime(file: string, runs: number): { wall: number; cpu: number } {
  const wall: number[] = [];
  const cpu: number[] = [];
  const script = `const c=process.cpuUsage(); const t=performance.now(); await import(${JSON.stringify(file)}); const u=process.cpuUsage(c); console.log(performance.now()-t, (u.user+u.system)/1000)`;
  for (let i = 0; i < runs; i++) {
    const [w, c] = execFileSync(process.execPath, ["--input-type=module", "-e", script]).toString().trim().split(" ").map(Number);
    wall.push(w ?? Number.NaN);
    cpu.push(c ?? Number.NaN);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/** The figures of one source tree (this checkout, or an older one for a before/after). */
export interface ClientCost {
  /** 1 when `{ SignalClient }` bundles for the browser platform, else 0 (and no browser sizes). */
  client_browser_bundle_builds: number;
  client_gzip_bytes: number;
  client_min_bytes: number;
  client_node_gzip_bytes: number;
  api_error_gzip_bytes: number;
  import_wall_ms: number;
  import_cpu_ms: number;
  empty_wall_ms: number;
  empty_cpu_ms: number;
}

export async function measureClientCost(root: string, runs = 15): Promise<{ figures: ClientCost; largest: string }> {
  const dir = mkdtempSync(join(tmpdir(), "signal-bundle-size-"));
  try {
    const entry = join(root, "src/index.ts");
    const client = await bundle(root, `export { SignalClient } from ${JSON.stringify(entry)};`, "browser").catch(() => undefined);
    const apiError = await bundle(root, `export { APIError } from ${JSON.stringify(entry)};`, "browser").catch(() => undefined);
    // The import-time bundle is for Node (an older tree may not build for the browser).
    const forNode = await bundle(root, `export { SignalClient } from ${JSON.stringify(entry)};`, "node");
    const file = join(dir, "client.mjs");
    writeFileSync(file, forNode.bytes);
    const empty = join(dir, "empty.mjs");
    writeFileSync(empty, "");
    importTime(file, 2); // warm the file cache
    const sdk = importTime(file, runs);
    const baseline = importTime(empty, runs);
    const parts = client?.parts ?? forNode.parts;
    const largest = [...parts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 4)
      .map(([name, n]) => `${name} ${fmt(n / 1024, 1)} KiB`)
      .join(", ");
    const figures: ClientCost = {
      client_browser_bundle_builds: client ? 1 : 0,
      client_gzip_bytes: client?.gzip ?? Number.NaN,
      client_min_bytes: client?.bytes.length ?? Number.NaN,
      client_node_gzip_bytes: forNode.gzip,
      api_error_gzip_bytes: apiError?.gzip ?? Number.NaN,
      import_wall_ms: sdk.wall,
      import_cpu_ms: sdk.cpu,
      empty_wall_ms: baseline.wall,
      empty_cpu_ms: baseline.cpu,
    };
    return { figures, largest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the client entry costs an app: the min+gzip bundle of `import { SignalClient }` (esbuild,
 * browser platform, every dependency inlined), of a bare `import { APIError }`, and the time a
 * fresh Node process takes to import the client bundle next to an empty module.
 */
export async function benchBundleSize(): Promise<{ markdown: string; figures: Record<string, number> }> {
  const { figures, largest } = await measureClientCost(repo);
  const overWall = figures.import_wall_ms - figures.empty_wall_ms;
  const overCpu = figures.import_cpu_ms - figures.empty_cpu_ms;
  const ok = (value: number, goal: number) => (value <= goal ? "✓" : "✗");
  const markdown = [
    "## Client bundle and import cost",
    "",
    '`import { SignalClient } from "frontier-signal"` bundled by esbuild (`--platform=browser`, minified, all dependencies inlined).',
    "",
    "| measure | value | goal |",
    "|---|---|---|",
    `| \`{ SignalClient }\` min+gzip | ${fmt(figures.client_gzip_bytes / 1024, 1)} KiB (${fmt(figures.client_min_bytes / 1024, 1)} KiB minified) | ≤ 25 KiB ${ok(figures.client_gzip_bytes, GOALS.client_gzip_bytes)} |`,
    `| \`{ APIError }\` alone, min+gzip | ${figures.api_error_gzip_bytes} B | ≤ 2 KiB ${ok(figures.api_error_gzip_bytes, GOALS.api_error_gzip_bytes)} |`,
    `| import of the client bundle in a fresh node process, over an empty module (median of 15) | ${fmt(overWall, 1)} ms wall, ${fmt(overCpu, 1)} ms CPU (bundle ${fmt(figures.import_wall_ms, 1)} ms, empty ${fmt(figures.empty_wall_ms, 1)} ms) | ≤ 25 ms ${ok(overCpu, GOALS.import_ms_over_empty)} (CPU) |`,
    `| largest parts | ${largest} | |`,
    "",
  ].join("\n");
  return { markdown, figures: { ...figures, import_wall_ms_over_empty: overWall, import_cpu_ms_over_empty: overCpu } };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = process.argv[2] ?? repo;
  console.log(JSON.stringify(await measureClientCost(root), null, 2));
}
