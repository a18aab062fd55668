import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMPILE_ONLY, type ReadmeBlock, readmeBlocks, withLocalImports } from "./readme-blocks.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const blocks = readmeBlocks();
let dir: string;
const fileOf = (block: ReadmeBlock) => join(dir, `block-${String(block.index).padStart(2, "0")}.ts`);
const where = (block: ReadmeBlock) => `README.md:${block.line} (${block.heading})`;

// What the README's examples take as already made (see its Simple API section); the run-time
// values come from run-readme-blocks.ts.
const PRELUDE = `import type { Batch, Checkpoint, CreateRunRequest, InferenceClient, SignalClient, SignalRun } from ${JSON.stringify(join(root, "src/index.ts"))};
declare global {
  var client: SignalClient;
  var run: SignalRun;
  var runId: string;
  var dataloader: AsyncIterable<Batch>;
  var prompts: string[];
  var inference: InferenceClient;
  var checkpoint: Checkpoint;
  var params: CreateRunRequest;
  var batch1: string[];
  var batch2: string[];
  var batch3: string[];
}
export {};
`;

beforeAll(() => {
  // Inside the checkout, so the blocks resolve this checkout's node_modules (zod, tfjs, ...).
  dir = mkdtempSync(join(root, "test/readme/.blocks-"));
  writeFileSync(join(dir, "prelude.d.ts"), PRELUDE);
  for (const block of blocks) writeFileSync(fileOf(block), `${withLocalImports(block.code)}\nexport {};\n`);
  copyFileSync(join(root, "scripts/data/facts.jsonl"), join(dir, "facts.jsonl"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the README's TypeScript blocks", () => {
  it("there are blocks, and every heading with a compile-only block exists", () => {
    expect(blocks.length).toBeGreaterThan(15);
    for (const heading of Object.keys(COMPILE_ONLY))
      expect(
        blocks.some((b) => b.heading === heading),
        heading,
      ).toBe(true);
  });

  it("compile (strict, as an app would) with no error and no deprecated name", () => {
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2023.d.ts", "lib.esnext.disposable.d.ts", "lib.dom.d.ts"],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      allowImportingTsExtensions: true,
      types: ["node"],
      typeRoots: [join(root, "node_modules/@types")],
    };
    const files = [join(dir, "prelude.d.ts"), ...blocks.map(fileOf)];
    const host: ts.LanguageServiceHost = {
      getScriptFileNames: () => files,
      getScriptVersion: () => "1",
      getScriptSnapshot: (file) => (ts.sys.fileExists(file) ? ts.ScriptSnapshot.fromString(ts.sys.readFile(file)!) : undefined),
      getCurrentDirectory: () => dir,
      getCompilationSettings: () => options,
      getDefaultLibFileName: (o) => ts.getDefaultLibFilePath(o),
      fileExists: ts.sys.fileExists,
      readFile: ts.sys.readFile,
      readDirectory: ts.sys.readDirectory,
      directoryExists: ts.sys.directoryExists,
      getDirectories: ts.sys.getDirectories,
    };
    const service = ts.createLanguageService(host);
    const problems: string[] = [];
    for (const block of blocks) {
      const file = fileOf(block);
      const diagnostics = [
        ...service.getSyntacticDiagnostics(file),
        ...service.getSemanticDiagnostics(file),
        ...service.getSuggestionDiagnostics(file).filter((d) => d.reportsDeprecated),
      ];
      for (const d of diagnostics) {
        const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0;
        problems.push(`README.md:${block.line + 1 + line} (${block.heading}): ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
      }
    }
    expect(problems).toEqual([]);
  }, 240_000);

  it("the runnable ones run, in order, against createLocalServer, with no deprecation warning", async () => {
    const runnable = blocks.filter((b) => !(b.heading in COMPILE_ONLY));
    expect(runnable.length).toBeGreaterThan(10);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", join(root, "test/readme/run-readme-blocks.ts"), ...runnable.map(fileOf)],
      {
        cwd: dir,
        env: { ...process.env, NODE_OPTIONS: "" },
        timeout: 400_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const report = JSON.parse(stdout.trim().split("\n").pop()!) as { ran: string[]; failed?: string; error?: string; warnings: string[] };
    const failed = runnable.find((b) => fileOf(b) === report.failed);
    expect(failed ? `${where(failed)}: ${report.error}` : undefined).toBeUndefined();
    expect(report.ran).toEqual(runnable.map(fileOf));
    expect(report.warnings).toEqual([]);
  }, 420_000);
});
