import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";

export const root = fileURLToPath(new URL("../../..", import.meta.url));

/** A throwaway copy of the parts of the project a script needs, sharing node_modules. */
export function copyProject(parts: string[]): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "signal-project-"));
  for (const part of parts) {
    if (existsSync(join(root, part))) cpSync(join(root, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Rewrites a YAML file through `edit` (which changes the parsed value in place). */
export function editYaml(file: string, edit: (doc: any) => void): void {
  const doc = parse(readFileSync(file, "utf8"));
  edit(doc);
  writeFileSync(file, stringify(doc));
}

/** Runs a script of the copy with node; never throws. */
export function runScript(dir: string, script: string, args: string[] = []): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [script, ...args], { cwd: dir, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
