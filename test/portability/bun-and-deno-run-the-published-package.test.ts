import { execFile } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { buildPackage, type BuiltPackage } from "../helpers/built-package.js";
import { useTestServer } from "../server/helpers.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const fixture = useTestServer();
let pkg: BuiltPackage;
let script: string;

beforeAll(async () => {
  pkg = await buildPackage();
  script = join(pkg.consumer, "runtime-smoke.mjs");
  copyFileSync(join(root, "test/portability/fixtures/runtime-smoke.mjs"), script);
}, 240_000);

const expected = { loss: true, same: true, notFound: true };

// The npm packages `bun` and `deno` carry their binaries in platform sub-packages.
describe("the published package in other runtimes, against the local server", () => {
  it("runs in Bun", async () => {
    const { stdout } = await run(join(root, "node_modules/.bin/bun"), [script, fixture.server.url, fixture.server.key], { cwd: pkg.consumer });
    expect(JSON.parse(stdout.trim())).toEqual(expected);
  });

  it("runs in Deno with network access only to the server, and no --allow-env", async () => {
    const { stdout } = await run(
      join(root, "node_modules/.bin/deno"),
      ["run", "--no-prompt", "--allow-net=127.0.0.1", "--allow-read", script, fixture.server.url, fixture.server.key],
      { cwd: pkg.consumer, env: { ...process.env, DENO_NO_UPDATE_CHECK: "1" } },
    );
    expect(JSON.parse(stdout.trim())).toEqual(expected);
  });
});
