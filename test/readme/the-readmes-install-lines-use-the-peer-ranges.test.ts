import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { peerDependencies: Record<string, string> };

describe("the README's install lines", () => {
  const installs = readme.split("\n").filter((line) => /^npm install /.test(line));

  it("give every peer the package's own range, the same in every block", () => {
    expect(installs.length).toBeGreaterThanOrEqual(3);
    const seen: string[] = [];
    for (const line of installs) {
      for (const [, name, version] of line.matchAll(/(@?[a-z0-9][\w./-]*)@(\S+)/g)) {
        if (!name || !(name in manifest.peerDependencies)) continue;
        seen.push(name);
        expect(`${name}@${version}`, line).toBe(`${name}@${manifest.peerDependencies[name]}`);
      }
    }
    for (const peer of Object.keys(manifest.peerDependencies)) expect(seen, peer).toContain(peer);
  });

  it("the testing block needs no better-sqlite3 (createLocalServer runs in memory); the local server's block has it", () => {
    const testing = installs.filter((line) => line.includes("--save-dev"));
    expect(testing.length).toBeGreaterThan(0);
    for (const line of testing) expect(line).not.toContain("better-sqlite3");
    expect(installs.some((line) => line.includes("better-sqlite3") && line.includes("@tensorflow/tfjs"))).toBe(true);
  });
});
