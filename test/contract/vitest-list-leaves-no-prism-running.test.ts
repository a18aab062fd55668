import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { waitUntilGone } from "../testing/processes.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The Prism processes whose environment carries `mark`: the ones a given child started. */
function prismsMarked(mark: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("prism-cli")) continue;
      if (readFileSync(`/proc/${entry}/environ`, "utf8").includes(mark)) found.push(Number(entry));
    } catch {
      // ended while we looked, or not ours to read
    }
  }
  return found;
}

// A file that runs a whole suite against its own Prism starts it at its top level, so that the
// suite's tests are registered with that target. `vitest list` imports such a file and never
// runs its afterAll: its Prism was left running, holding a port, for as long as the machine ran.
describe("a maintainer listing the tests", () => {
  it("leaves no Prism running once `vitest list` has exited", async () => {
    const mark = `SIGNAL_LIST_MARK=${randomUUID()}`;
    const [name, value] = mark.split("=") as [string, string];
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [`${root}node_modules/vitest/vitest.mjs`, "list", "test/sdk/the-high-level-suite-passes-against-a-newer-server.test.ts"],
      { cwd: root, env: { ...process.env, [name]: value, VITEST: undefined, VITEST_WORKER_ID: undefined, VITEST_POOL_ID: undefined } },
    );
    expect(stdout).toContain("what the newer server adds");
    try {
      for (const pid of prismsMarked(mark)) await waitUntilGone(pid, 10_000);
      expect(prismsMarked(mark)).toEqual([]);
    } finally {
      for (const pid of prismsMarked(mark)) process.kill(pid, "SIGKILL");
    }
  }, 120_000);
});
