import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);

/**
 * The web console built as `npm run build` builds it (Vite, `console/vite.config.mjs`), into a
 * temporary directory keyed by a hash of its inputs (the console, the SDK it bundles, the
 * generated schemas, the lockfile that pins what it bundles), so test files share one build and a fresh clone needs no prior build.
 * @returns the directory holding `index.html` and `assets/`.
 */
export async function buildConsole(): Promise<string> {
  const dir = join(tmpdir(), `frontier-signal-console-${hashOf(["console", "src", "generated", "package.json", "package-lock.json"])}`);
  if (existsSync(join(dir, "index.html"))) return dir;
  const scratch = mkdtempSync(join(tmpdir(), "frontier-signal-console-build-"));
  await run(process.execPath, [join(root, "node_modules/vite/bin/vite.js"), "build", "--config", join(root, "console/vite.config.mjs"), "--outDir", scratch], {
    cwd: root,
  });
  try {
    renameSync(scratch, dir);
  } catch {
    rmSync(scratch, { recursive: true, force: true });
  }
  return dir;
}

function hashOf(entries: string[]): string {
  const hash = createHash("sha256");
  const walk = (path: string) => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) walk(join(path, name));
    } else {
      hash.update(relative(root, path)).update("\0").update(readFileSync(path)).update("\0");
    }
  };
  for (const entry of entries) walk(join(root, entry));
  return hash.digest("hex").slice(0, 16);
}
