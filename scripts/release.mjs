#!/usr/bin/env node
// `npm run release`: cuts a release of the SDK from the spec changes since the last one.
// 1. Classifies every change from openapi/released/signal.yaml to openapi/signal.yaml
//    (scripts/spec-compat.mjs, the same rating `npm run check` gates on).
// 2. Bumps the version by the rule: major for a breaking change, minor for an additive one,
//    patch otherwise. A breaking change needs info.version's major bumped first. The version is
//    written to package.json, package-lock.json and src/core/version.ts (the one constant the
//    SDK and the server report).
// 3. Writes the version's section at the top of CHANGELOG.md from the classified changes.
// 4. Records the current spec as released (copies it to openapi/released/signal.yaml).
// `--dry-run` prints the section and the new version and writes nothing.
// Commit the result (package.json, package-lock.json, src/core/version.ts, CHANGELOG.md,
// openapi/released/) and tag it.
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { classify, describe, majorOf } from "./spec-compat.mjs";

const root = new URL("..", import.meta.url).pathname;
const spec = join(root, "openapi/signal.yaml");
const released = join(root, "openapi/released/signal.yaml");
const dryRun = process.argv.includes("--dry-run");

/** `1.4.2` bumped by `major` | `minor` | `patch`. */
export function bumpVersion(version, bump) {
  const [major = 0, minor = 0, patch = 0] = version
    .split("-")[0]
    .split(".")
    .map((n) => Number.parseInt(n, 10));
  if (bump === "major") return `${major + 1}.0.0`;
  if (bump === "minor") return `${major}.${minor + 1}.0`;
  return `${major}.${minor}.${patch + 1}`;
}

const result = await classify(released, spec);
const breaking = result.changes.filter((c) => c.impact === "major");
const additive = result.changes.filter((c) => c.impact === "minor");
const other = result.changes.filter((c) => c.impact === "patch");
if (breaking.length > 0 && majorOf(result.revisionVersion) <= majorOf(result.baseVersion)) {
  console.error(
    `release: refused: ${breaking.length} breaking change(s) since the released spec (v${result.baseVersion}) and info.version (v${result.revisionVersion}) keeps its major:\n` +
      breaking.map((c) => `  - ${describe(c)}`).join("\n") +
      `\n  Make the changes additive, or bump info.version to ${majorOf(result.baseVersion) + 1}.0.0 in openapi/signal.yaml.`,
  );
  process.exit(1);
}

const bump = breaking.length > 0 ? "major" : additive.length > 0 ? "minor" : "patch";
const pkgPath = join(root, "package.json");
const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
const version = bumpVersion(pkg.version, bump);
const date = new Date().toISOString().slice(0, 10);

const list = (title, changes) => (changes.length === 0 ? [] : [`### ${title}`, "", ...changes.map((c) => `- ${describe(c)}`), ""]);
const section = [
  `## ${version} (${date})`,
  "",
  `API v${result.revisionVersion}${result.revisionVersion !== result.baseVersion ? ` (was v${result.baseVersion})` : ""}; a ${bump} release${
    bump === "major" ? ": existing code may need changes, see Breaking changes" : bump === "minor" ? ": additions only, existing code keeps working" : ""
  }.`,
  "",
  ...list("Breaking changes", breaking),
  ...list("Added", additive),
  ...list("Changed (compatible)", other),
  ...(result.changes.length === 0 ? ["No change to the API.", ""] : []),
].join("\n");

console.log(`release: ${pkg.version} → ${version} (${bump}; ${breaking.length} breaking, ${additive.length} additive, ${other.length} other change(s))\n`);
console.log(section);
if (dryRun) process.exit(0);

pkg.version = version;
writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
const lockPath = join(root, "package-lock.json");
if (existsSync(lockPath)) {
  const lock = JSON.parse(readFileSync(lockPath, "utf8"));
  lock.version = version;
  if (lock.packages?.[""]) lock.packages[""].version = version;
  writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
}
const versionPath = join(root, "src/core/version.ts");
if (existsSync(versionPath)) {
  const source = readFileSync(versionPath, "utf8");
  const updated = source.replace(/^export const VERSION = "[^"]*";$/m, `export const VERSION = "${version}";`);
  if (updated === source && !source.includes(`"${version}"`)) throw new Error('release: no `export const VERSION = "...";` line in src/core/version.ts');
  writeFileSync(versionPath, updated);
}
const changelogPath = join(root, "CHANGELOG.md");
const title = "# Changelog\n";
const existing = existsSync(changelogPath) ? readFileSync(changelogPath, "utf8") : title;
const [head, ...rest] = existing.split(/^(?=## )/m);
writeFileSync(changelogPath, `${(head ?? title).trimEnd()}\n\n${section}\n${rest.join("")}`.replace(/\n{3,}/g, "\n\n"));
copyFileSync(spec, released);
console.log(
  `release: wrote package.json, package-lock.json, src/core/version.ts, CHANGELOG.md and openapi/released/signal.yaml; commit them and tag v${version}.`,
);
