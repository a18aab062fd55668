import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);

/** The package as `npm publish` would ship it, built into a temporary directory. */
export interface BuiltPackage {
  /** The package's directory: package.json, dist/ and the other `files`. */
  dir: string;
  /** A consumer project (type module) whose node_modules/frontier-signal is the package. */
  consumer: string;
}

/**
 * Builds the package (`tsc -p tsconfig.build.json --inlineSources` and the generated types, as
 * `npm run build`: src/ is not shipped, so the maps carry the sources)
 * into a directory of its own with its package.json and the other entries of `files`, and a
 * consumer project that resolves `frontier-signal` to it through its `exports`. The package's
 * dependencies resolve from this checkout's node_modules; the checkout's dist/ is never used.
 *
 * The build is keyed by a hash of its inputs and of this checkout's path, so test files running
 * at once share one build: each builds into a scratch directory and renames it into place; a
 * loser of that race drops its copy. The path is part of the key because the package links
 * this checkout's node_modules (and its source maps name this checkout's files): a build left
 * in the temporary directory by another checkout of the same commit, since deleted, would
 * resolve no dependency. A build whose node_modules link no longer resolves is rebuilt.
 */
export async function buildPackage(options: { cacheDir?: string } = {}): Promise<BuiltPackage> {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { files: string[] };
  const inputs = [
    "package.json",
    "tsconfig.json",
    "tsconfig.build.json",
    "src",
    "generated",
    "README.md",
    "LICENSE",
    ...manifest.files.filter((f) => f !== "dist"),
  ];
  const cacheDir = options.cacheDir ?? tmpdir();
  const base = join(cacheDir, packageDirName(root, inputs));
  if (!usable(base)) {
    const scratch = mkdtempSync(join(cacheDir, "frontier-signal-build-"));
    await assemble(scratch, manifest.files);
    writeFileSync(join(scratch, "complete"), "");
    if (existsSync(base) && !usable(base)) rmSync(base, { recursive: true, force: true });
    try {
      renameSync(scratch, base);
    } catch {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return { dir: join(base, "frontier-signal"), consumer: join(base, "consumer") };
}

async function assemble(base: string, files: string[]): Promise<void> {
  const dir = join(base, "frontier-signal");
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, "package.json"), join(dir, "package.json"));
  // npm packs README and LICENSE whatever `files` says.
  for (const entry of [...files, "README.md", "LICENSE"]) {
    if (entry !== "dist" && existsSync(join(root, entry))) cpSync(join(root, entry), join(dir, entry), { recursive: true });
  }
  await run(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json"), "--inlineSources", "--outDir", join(dir, "dist")],
    { cwd: root },
  );
  await run(process.execPath, [join(root, "scripts/copy-generated-types.mjs"), join(dir, "dist")], { cwd: root });
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"), "dir");
  const consumer = join(base, "consumer");
  mkdirSync(join(consumer, "node_modules"), { recursive: true });
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // Relative, so the link still points at the package after the directory is renamed.
  symlinkSync("../../frontier-signal", join(consumer, "node_modules/frontier-signal"), "dir");
}

/** The cache entry's name for a checkout at `checkout` with these inputs. */
export function packageDirName(checkout: string, entries: string[]): string {
  return `frontier-signal-package-${hashOf(checkout, entries)}`;
}

/** A finished build whose dependencies still resolve through its node_modules link. */
function usable(base: string): boolean {
  return existsSync(join(base, "complete")) && existsSync(join(base, "frontier-signal/node_modules/typescript/package.json"));
}

function hashOf(checkout: string, entries: string[]): string {
  const hash = createHash("sha256").update(checkout).update("\0");
  const walk = (path: string) => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) walk(join(path, name));
    } else {
      hash.update(relative(checkout, path)).update("\0").update(readFileSync(path)).update("\0");
    }
  };
  for (const entry of entries) walk(join(checkout, entry));
  return hash.digest("hex").slice(0, 16);
}
