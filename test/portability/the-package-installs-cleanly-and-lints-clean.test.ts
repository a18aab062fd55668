import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { buildPackage, type BuiltPackage } from "../helpers/built-package.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  sideEffects: unknown;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
let pkg: BuiltPackage;

const parse = (version: string) => version.split(".").map(Number) as [number, number, number];
const isExact = (version: string) => /^\d+\.\d+\.\d+$/.test(version);
/** `^X.Y.Z` as npm reads it: same major (same minor under 0.x), and not below X.Y.Z. */
function satisfiesCaret(version: string, range: string): boolean {
  const [major, minor, patch] = parse(range.slice(1));
  const [vMajor, vMinor, vPatch] = parse(version);
  if (vMajor !== major || (major === 0 && vMinor !== minor)) return false;
  return vMinor > minor || (vMinor === minor && vPatch >= patch);
}

beforeAll(async () => {
  pkg = await buildPackage();
}, 240_000);

describe("package.json", () => {
  it("says no module has side effects, so a bundler keeps only what is imported", () => {
    expect(manifest.sideEffects).toBe(false);
  });

  it("gives runtime dependencies and peers caret ranges that admit what the lockfile pins", () => {
    const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
    for (const [name, range] of Object.entries({ ...manifest.dependencies, ...manifest.peerDependencies })) {
      expect(range, name).toMatch(/^\^\d+\.\d+\.\d+$/);
      const locked = lock.packages[`node_modules/${name}`]?.version;
      expect(locked, name).toBeDefined();
      expect(satisfiesCaret(locked!, range), `${name}@${locked} in ${range}`).toBe(true);
    }
  });

  it("lets an app already on @tensorflow/tfjs 4.21 install the SDK (no ERESOLVE)", () => {
    for (const name of ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"]) {
      expect(satisfiesCaret("4.21.0", manifest.peerDependencies[name]!), name).toBe(true);
    }
  });

  it("pins every devDependency exactly", () => {
    for (const [name, version] of Object.entries(manifest.devDependencies)) expect(isExact(version), `${name} ${version}`).toBe(true);
  });

  it("installs the command as frontier-signal, with signal kept as an alias of the same file", () => {
    expect(manifest.bin["frontier-signal"]).toBe("./bin/signal.js");
    expect(manifest.bin.signal).toBe(manifest.bin["frontier-signal"]);
  });
});

describe("the packed tarball", () => {
  it("holds LICENSE, dist and the spec, generated code once (compiled), and no TypeScript sources", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkg.dir });
    const files = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((file) => file.path);
    expect(files).toContain("LICENSE");
    expect(files).toContain("dist/src/index.js");
    expect(files).toContain("dist/generated/zod/zod.gen.js");
    expect(files).toContain("openapi/signal.yaml");
    expect(files.filter((path) => path.endsWith(".ts") && !path.endsWith(".d.ts"))).toEqual([]);
    expect(files.filter((path) => path.startsWith("generated/") || path.startsWith("src/"))).toEqual([]);
  });

  it("ships source maps that carry their sources, so stack traces resolve without src/", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkg.dir });
    const maps = (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files
      .map((file) => file.path)
      .filter((path) => path.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(0);
    for (const path of maps) {
      const map = JSON.parse(readFileSync(join(pkg.dir, path), "utf8")) as { sources: string[]; sourcesContent?: Array<string | null> };
      expect(map.sourcesContent?.length, path).toBe(map.sources.length);
      expect(
        map.sourcesContent?.every((content) => typeof content === "string" && content.length > 0),
        path,
      ).toBe(true);
    }
  });

  it("is clean for publint", async () => {
    const { stdout } = await run(process.execPath, [join(root, "node_modules/publint/src/cli.js"), pkg.dir], { cwd: pkg.dir });
    expect(stdout).toContain("All good!");
  }, 120_000);

  it("is clean for @arethetypeswrong/cli --profile esm-only", async () => {
    const cli = join(root, "node_modules/@arethetypeswrong/cli/dist/index.js");
    const result = await run(process.execPath, [cli, "--pack", pkg.dir, "--profile", "esm-only", "--format", "json"], { cwd: pkg.dir }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    const problems = (JSON.parse(result.stdout) as { analysis: { problems: unknown[] } }).analysis.problems;
    expect(problems.filter((problem) => !["node10", "node16-cjs"].includes((problem as { resolutionKind?: string }).resolutionKind ?? ""))).toEqual([]);
    expect(result.code).toBe(0);
  }, 120_000);
});
