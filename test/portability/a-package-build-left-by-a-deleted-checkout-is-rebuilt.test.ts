import { cpSync, existsSync, mkdtempSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildPackage, packageDirName } from "../helpers/built-package.js";

// The portability tests share one build of the package in the temporary directory. That build
// links the node_modules of the checkout that made it: a build left there by another checkout of
// the same commit that has since been deleted (a CI run in a directory removed after it) resolved
// no dependency, and every test that compiles or bundles against the package failed with
// "Cannot find module 'zod/mini'".
describe("the shared package build", () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "frontier-signal-cache-"));
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it("is rebuilt when its node_modules link no longer resolves, and its dependencies resolve from the consumer", async () => {
    // A finished build as a deleted checkout leaves it: complete, its link pointing nowhere.
    const shared = await buildPackage();
    const entry = basename(dirname(shared.dir));
    const stale = join(cacheDir, entry);
    cpSync(dirname(shared.dir), stale, { recursive: true, verbatimSymlinks: true, filter: (source) => source !== join(shared.dir, "node_modules") });
    symlinkSync(join(cacheDir, "deleted-checkout/node_modules"), join(stale, "frontier-signal/node_modules"), "dir");
    expect(existsSync(join(stale, "complete"))).toBe(true);

    const built = await buildPackage({ cacheDir });
    expect(built.dir).toBe(join(stale, "frontier-signal"));
    const fromPackage = createRequire(join(built.consumer, "node_modules/frontier-signal/package.json"));
    expect(() => fromPackage.resolve("zod/mini")).not.toThrow();
    expect(() => fromPackage.resolve("openapi-fetch")).not.toThrow();
    expect(readlinkSync(join(built.dir, "node_modules"))).not.toContain("deleted-checkout");
  }, 240_000);

  it("is keyed by the checkout's path, so two checkouts of one commit never share a build", () => {
    const inputs = ["package.json", "src", "generated"];
    expect(packageDirName("/ci/one", inputs)).not.toBe(packageDirName("/ci/two", inputs));
  });
});
