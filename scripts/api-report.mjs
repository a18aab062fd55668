#!/usr/bin/env node
// The public-API report of the hand-written layer: api/<entry>.api.md lists every export of each
// entry point in package.json `exports` with its signature (@microsoft/api-extractor). The files
// are committed, so a change to the public TypeScript API shows up in review as a diff.
//
//   npm run api-report    rewrites the reports after a deliberate API change
//   npm run check         fails when src/ changed the API and the reports were not rewritten
//
// Declarations are emitted by tsc into .cache/api-report (git-ignored) (incremental, so a check
// after a small edit re-emits only what changed).
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";

const root = new URL("..", import.meta.url).pathname;
// Outside node_modules: TypeScript treats files under node_modules as external libraries, and
// api-extractor would then report every export as an opaque re-export.
const cache = join(root, ".cache/api-report");
const types = join(cache, "types");
export const reportFolder = join(root, "api");

/** The entry points of package.json whose declarations come from src/, as `{ name, dts }`. */
function entryPoints() {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const entries = [];
  for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
    const declared = typeof target === "object" && target !== null ? target.types : undefined;
    if (typeof declared !== "string" || !declared.startsWith("./dist/")) continue;
    const name = subpath === "." ? pkg.name : `${pkg.name}-${subpath.replace(/^\.\//, "").replace(/[/.]/g, "-")}`;
    entries.push({ subpath, name, dts: join(types, declared.slice("./dist/".length)) });
  }
  return entries;
}

async function emitDeclarations() {
  await promisify(execFile)(
    process.execPath,
    [
      join(root, "node_modules/typescript/bin/tsc"),
      "-p",
      join(root, "tsconfig.build.json"),
      "--emitDeclarationOnly",
      "--declaration",
      "--declarationMap",
      "false",
      "--sourceMap",
      "false",
      "--outDir",
      types,
      "--incremental",
      "--tsBuildInfoFile",
      join(cache, "tsbuildinfo.json"),
    ],
    { cwd: root, maxBuffer: 16 * 1024 * 1024 },
  ).catch((error) => {
    const detail = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim();
    // Exit code 2: type errors, declarations still written. The report is still worth making
    // (the type-check step of `npm run check` reports the errors themselves).
    if (error.code === 2) return void console.warn(`api-report: src/ has type errors (the report is made anyway):\n${detail}`);
    throw Object.assign(new Error(`tsc could not emit the declarations:\n${detail}`), { detail });
  });
  // tsc does not copy .d.ts inputs; the emitted declarations import generated/schema.js.
  mkdirSync(join(types, "generated"), { recursive: true });
  copyFileSync(join(root, "generated/schema.d.ts"), join(types, "generated/schema.d.ts"));
}

/**
 * Builds the report of every entry point. With `update`, rewrites api/*.api.md; without, leaves
 * them alone and lists the entry points whose report differs from the API.
 * @returns {Promise<{ changed: Array<{ subpath: string, report: string }>, problems: string[] }>}
 */
export async function apiReport({ update }) {
  await emitDeclarations();
  const { Extractor, ExtractorConfig, ExtractorLogLevel } = await import("@microsoft/api-extractor");
  mkdirSync(reportFolder, { recursive: true });
  const changed = [];
  const problems = [];
  for (const entry of entryPoints()) {
    if (!existsSync(entry.dts)) {
      problems.push(`${entry.subpath}: no declarations at ${relative(root, entry.dts)} (does package.json "exports" point at a file src/ builds?)`);
      continue;
    }
    const config = ExtractorConfig.prepare({
      configObjectFullPath: join(root, "api", "api-extractor.json"),
      packageJsonFullPath: join(root, "package.json"),
      configObject: {
        projectFolder: root,
        mainEntryPointFilePath: entry.dts,
        compiler: {
          overrideTsconfig: {
            compilerOptions: {
              lib: ["ES2023", "DOM", "DOM.Iterable", "ESNext.Disposable"],
              types: ["node"],
              skipLibCheck: true,
              strict: true,
              module: "NodeNext",
              moduleResolution: "NodeNext",
              target: "ES2023",
            },
            files: [entry.dts],
          },
        },
        apiReport: { enabled: true, reportFileName: entry.name, reportFolder, reportTempFolder: join(cache, "temp") },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        messages: {
          compilerMessageReporting: { default: { logLevel: "warning" } },
          extractorMessageReporting: {
            default: { logLevel: "warning" },
            // JSDoc here does not use release tags (@public/@beta); every export is public.
            "ae-missing-release-tag": { logLevel: "none" },
            "ae-forgotten-export": { logLevel: "none", addToApiReportFile: true },
            "ae-undocumented": { logLevel: "none" },
          },
          // The JSDoc uses @default/@throws/@example freely; TSDoc's strict syntax is not the point here.
          tsdocMessageReporting: { default: { logLevel: "none" } },
        },
      },
    });
    const result = Extractor.invoke(config, {
      localBuild: update,
      showVerboseMessages: false,
      messageCallback: (message) => {
        // A changed or missing report is reported through `apiReportChanged`.
        if (message.logLevel === ExtractorLogLevel.Error && !/API report/.test(message.text)) problems.push(`${entry.subpath}: ${message.text}`);
        message.handled = true;
      },
    });
    if (result.apiReportChanged) changed.push({ subpath: entry.subpath, report: relative(root, config.reportFilePath) });
  }
  return { changed, problems };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = performance.now();
  const { changed, problems } = await apiReport({ update: true }).catch((error) => {
    console.error(`api-report: ${error.message}`);
    process.exit(1);
  });
  for (const problem of problems) console.warn(`api-report: ${problem}`);
  if (changed.length === 0) console.log(`api-report: the reports in api/ match src/ (${Math.round(performance.now() - started)} ms)`);
  for (const { report } of changed) console.log(`api-report: rewrote ${report}; review it and commit it with the change to src/`);
}
