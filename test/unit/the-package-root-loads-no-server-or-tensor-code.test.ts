import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const forbidden = /src\/server\/|src\/testing\/|@tensorflow\/|@stoplight\/|better-sqlite3/;

describe("import of the package root", () => {
  // better-sqlite3 (the run store's optional peer) is reached only through src/server.
  it("in a fresh node process resolves no module under src/server, src/testing, @tensorflow or Prism", async () => {
    const script = `
      await import(${JSON.stringify(`${root}src/index.ts`)});
      await new Promise((r) => setTimeout(r, 50));
      process.stdout.write(JSON.stringify(globalThis.__loadedModules));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", "--import", `${root}test/unit/fixtures/record-loads.mjs`, "--input-type=module", "-e", script],
      { cwd: root },
    );
    const loaded = JSON.parse(stdout) as string[];
    expect(loaded.some((url) => url.endsWith("src/signal-client.ts"))).toBe(true);
    expect(loaded.some((url) => url.includes("openapi-fetch"))).toBe(true);
    expect(loaded.filter((url) => forbidden.test(url))).toEqual([]);
  });

  it("bundled with esbuild pulls in no server, testing or tensor module", async () => {
    const result = await build({
      entryPoints: [`${root}src/index.ts`],
      bundle: true,
      platform: "node",
      format: "esm",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.includes("src/internal/transport.ts"))).toBe(true);
    expect(inputs.filter((path) => forbidden.test(path))).toEqual([]);
  });
});
