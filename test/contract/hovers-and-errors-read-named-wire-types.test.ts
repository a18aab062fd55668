import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";

const root = new URL("../..", import.meta.url).pathname;
const dir = mkdtempSync(join(root, "test/contract/.hover-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The type an editor shows for each `const` of `code`, as the compiler prints it. */
function hovers(code: string): Record<string, string> {
  const file = join(dir, "probe.ts");
  writeFileSync(file, code);
  const program = ts.createProgram([file], {
    strict: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out: Record<string, string> = {};
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name)) {
      out[node.name.text] = checker.typeToString(checker.getTypeAtLocation(node.name), undefined, ts.TypeFormatFlags.NoTruncation);
    }
    ts.forEachChild(node, visit);
  };
  visit(program.getSourceFile(file) as ts.SourceFile);
  return out;
}

describe("the wire types have names", () => {
  it("so hovers read Run, Checkpoint, SampleResult instead of components[...] expansions", () => {
    const shown = hovers(`
      import type { SignalClient, TrainingClient } from "../../../src/index.js";
      declare const client: SignalClient;
      declare const training: TrainingClient;
      export async function probe() {
        const checkpoint = await client.saveState("run_x");
        const detailed = await client.sampleDetailed("run_x", ["a"]);
        const page = await client.listCheckpoints("run_x");
        const item = page.data[0]!;
        const mode = checkpoint.mode;
        const runId = checkpoint.run_id;
        const step = await training.trainBatch([{ text: "a" }]);
      }
    `);
    expect(shown).toMatchObject({
      checkpoint: "WithRequestId<Checkpoint>",
      detailed: "WithRequestId<SampleResult>",
      page: "WithRequestId<Page<Checkpoint>>",
      item: "Checkpoint",
      // A response-side enum is open: a newer server may return a mode this SDK does not know.
      mode: "CheckpointMode | (string & {})",
      runId: "string",
      step: "WithRequestId<TrainStepResult>",
    });
    for (const text of Object.values(shown)) expect(text).not.toContain("components[");
  });
});
