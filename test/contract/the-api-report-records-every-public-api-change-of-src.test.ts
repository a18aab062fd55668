import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copyProject, root, runScript } from "./helpers/project-copy.js";

// .cache holds tsc's incremental state from the last check here, if any: it only saves time.
const project = copyProject(["src", "generated", "api", "scripts", "package.json", "tsconfig.json", "tsconfig.build.json", ".cache"]);
afterAll(() => project.remove());

describe("the public-API report (api/*.api.md)", () => {
  it("makes npm run check fail on an unrecorded change to src/'s exports, until npm run api-report records it", () => {
    const index = join(project.dir, "src/index.ts");
    writeFileSync(index, `${readFileSync(index, "utf8")}\n/** Added without updating the report. */\nexport const unrecordedExport = 1;\n`);
    const failed = runScript(project.dir, "scripts/check.mjs", ["--only", "api"]);
    expect(failed.status).toBe(1);
    expect(failed.output).toContain("the public API changed and api/frontier-signal.api.md does not record it");
    expect(failed.output).toContain("Run `npm run api-report`");

    const rewrote = runScript(project.dir, "scripts/api-report.mjs");
    expect(rewrote.output).toContain("rewrote api/frontier-signal.api.md");
    expect(readFileSync(join(project.dir, "api/frontier-signal.api.md"), "utf8")).toContain("export const unrecordedExport = 1;");
    expect(readFileSync(join(root, "api/frontier-signal.api.md"), "utf8")).not.toContain("unrecordedExport");
  }, 300_000);
});
