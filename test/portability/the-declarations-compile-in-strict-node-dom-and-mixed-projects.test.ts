import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { buildPackage } from "../helpers/built-package.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

// The strictest settings an app may have: no skipLibCheck (our .d.ts files are checked too) and
// exactOptionalPropertyTypes (an optional field given `undefined` is an error unless the type says so).
const SETUPS = {
  "Node-only (lib ES2022, @types/node, no DOM)": {
    lib: ["ES2022"],
    types: ["node"],
    entries: ["frontier-signal", "frontier-signal/node", "frontier-signal/testing"],
  },
  "DOM-only (lib ES2022 + DOM, no @types/node)": { lib: ["ES2022", "DOM"], types: [], entries: ["frontier-signal"] },
  "both (DOM and @types/node)": { lib: ["ES2022", "DOM"], types: ["node"], entries: ["frontier-signal", "frontier-signal/node", "frontier-signal/testing"] },
} as const;

// Calls an app makes with values that may be undefined, and internal members that must not be
// visible (each `@ts-expect-error` fails the compile if the line type-checks).
const APP = [
  'import { SignalClient, type ClientOptions } from "frontier-signal";',
  "export async function app(client: SignalClient, rank: number | undefined, t: number | undefined, step: number | undefined): Promise<void> {",
  '  const run = await client.createRun({ base_model: "signal-byte-tiny", lora_r: rank, seed: undefined, metadata: undefined });',
  '  await client.sample(run.run_id, ["Q:"], { temperature: t, max_tokens: undefined });',
  '  await run.training().trainBatch([{ text: "a" }], { learning_rate: t });',
  '  await run.training().trainEpoch([[{ text: "a" }]], { progress: undefined, params: { learning_rate: t } });',
  '  await client.forwardBackward(run.run_id, [{ prompt: "a", completion: "b" }], { loss_fn: undefined });',
  "  await client.optimStep(run.run_id, { learning_rate: t, max_grad_norm: undefined });",
  "  await client.saveState(run.run_id, { mode: undefined });",
  "  await client.forward(run.run_id, [{ text: 'a' }], { step });",
  "  await client.embeddings(run.run_id, ['a'], { step });",
  "  await client.inference(run.run_id, { step, batchSize: undefined }).batchSample(['a'], { max_tokens: undefined });",
  "  await client.listRuns({ limit: undefined, after: undefined });",
  "  // @ts-expect-error internal: not in the shipped declarations",
  "  SignalClient._fromApi;",
  "  // @ts-expect-error internal: not in the shipped declarations",
  "  client._warnDeprecated;",
  "}",
  "export const options: ClientOptions = { apiKey: undefined, baseUrl: undefined, timeout: undefined };",
].join("\n");

const TESTING = [
  'import { createLocalServer, createMockServer } from "frontier-signal/testing";',
  'import { saveAdapter } from "frontier-signal/node";',
  "export async function tests(workers: number | undefined, port: number | undefined): Promise<void> {",
  "  await using local = await createLocalServer({ workers, apiKey: undefined, server: { bodyLimitBytes: undefined }, models: [{ path: 'm', id: undefined, contextLength: port }] });",
  "  await using mock = await createMockServer({ port });",
  '  mock.respondWith("sample", { status: 429, retryAfter: undefined, times: undefined });',
  "  void local;",
  "  void saveAdapter;",
  "}",
].join("\n");

describe("the published declarations compile in a strict app", () => {
  for (const [name, setup] of Object.entries(SETUPS)) {
    it(`${name}, skipLibCheck false, exactOptionalPropertyTypes: every entry, optional fields taking undefined, no internal members`, async () => {
      const { consumer } = await buildPackage();
      const dir = join(consumer, `strict-${setup.types.length}-${setup.lib.length}`);
      mkdirSync(dir, { recursive: true });
      const files = ["app.ts", ...((setup.entries as readonly string[]).includes("frontier-signal/testing") ? ["tests.ts"] : [])];
      const config = {
        compilerOptions: {
          target: "ES2022",
          lib: setup.lib,
          types: setup.types,
          typeRoots: [join(root, "node_modules/@types")],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files,
      };
      writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config));
      writeFileSync(join(dir, "app.ts"), APP);
      writeFileSync(join(dir, "tests.ts"), TESTING);
      const tsc = join(root, "node_modules/typescript/bin/tsc");
      const result = await promisify(execFile)(process.execPath, [tsc, "-p", dir], { cwd: dir }).then(
        () => ({ code: 0, stdout: "" }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
      expect(result.stdout).toBe("");
      expect(result.code).toBe(0);
    }, 240_000);
  }
});
