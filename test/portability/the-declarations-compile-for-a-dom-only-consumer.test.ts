import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { buildPackage } from "../helpers/built-package.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

describe("the published declarations", () => {
  it("type-check in a browser project: lib ES2022 + DOM, no @types/node, no skipLibCheck", async () => {
    const { consumer } = await buildPackage();
    const dir = join(consumer, "dom-only");
    const config = {
      compilerOptions: {
        target: "ES2022",
        lib: ["ES2022", "DOM"],
        types: [],
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ["everything.ts", "browser-page.ts"],
    };
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config));
    // Every export of the entry, used as a value or a type, plus the browser test's page.
    writeFileSync(
      join(dir, "everything.ts"),
      [
        'import * as sdk from "frontier-signal";',
        'import type { ClientOptions, ProgressStream, RequestOptions, Run, SampleChunk } from "frontier-signal";',
        "export const all: unknown = sdk;",
        'export const options: ClientOptions = { apiKey: "k", baseUrl: "http://127.0.0.1:7300" };',
        "export type Used = [ProgressStream, RequestOptions, Run, SampleChunk];",
        "export async function use(client: sdk.SignalClient): Promise<void> {",
        "  await client.close();",
        "}",
      ].join("\n"),
    );
    copyFileSync(join(root, "test/browser/fixtures/page.ts"), join(dir, "browser-page.ts"));
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    const result = await promisify(execFile)(process.execPath, [tsc, "-p", dir], { cwd: dir }).then(
      () => ({ code: 0, stdout: "" }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    expect(result.stdout).toBe("");
    expect(result.code).toBe(0);
  }, 240_000);
});
