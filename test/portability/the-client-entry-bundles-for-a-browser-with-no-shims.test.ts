import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

async function browserBundle(contents: string) {
  return build({
    stdin: { contents, resolveDir: root, loader: "ts" },
    bundle: true,
    platform: "browser",
    format: "esm",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
}

describe("the client entry in a browser build", () => {
  it("bundles with esbuild --platform=browser: no Node built-in, no terminal library, no server", async () => {
    const result = await browserBundle(`export { SignalClient, AsyncTrainingClient, AsyncInferenceClient } from "./src/index.ts";`);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.endsWith("src/internal/transport.ts"))).toBe(true);
    expect(inputs.filter((path) => /^node:|cli-progress|src\/server\/|@tensorflow\//.test(path))).toEqual([]);
    const text = result.outputFiles[0]?.text ?? "";
    expect(text).not.toMatch(/from\s*["']node:/);
  });

  it("keeps a bare error-class import to the error classes alone", async () => {
    const result = await browserBundle(`export { APIError } from "./src/index.ts";`);
    // With "sideEffects": false the bundler drops every module whose exports are unused.
    const [output] = Object.values(result.metafile.outputs);
    const kept = Object.entries(output?.inputs ?? {})
      .filter(([, info]) => info.bytesInOutput > 0)
      .map(([path]) => path);
    expect(kept.filter((path) => path !== "<stdin>")).toEqual(["src/errors.ts"]);
  });
});
