import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyProject, editYaml, root, runScript } from "./helpers/project-copy.js";

// Every case runs the release on a fresh copy of the project: the repository's own released
// spec, version and changelog are never touched.
let project: ReturnType<typeof copyProject>;
beforeEach(() => {
  project = copyProject(["openapi", "scripts", "redocly.yaml", "package.json", "package-lock.json", "CHANGELOG.md", "src/core/version.ts"]);
  copyFileSync(join(root, "openapi/released/signal.yaml"), join(project.dir, "openapi/signal.yaml"));
});
afterEach(() => project.remove());

const read = (file: string) => readFileSync(join(project.dir, file), "utf8");
const version = () => (JSON.parse(read("package.json")) as { version: string }).version;
const released = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version as string;
const [major, minor, patch] = released.split(".").map(Number) as [number, number, number];

describe("npm run release", () => {
  it("makes a minor release for additive changes, lists them, and records the spec as released", () => {
    editYaml(join(project.dir, "openapi/signal.yaml"), (doc) => {
      doc.info.version = "1.1.0";
      doc.components.schemas.Run.properties.owner = { type: "string" };
      doc.components.schemas.Run.properties.status.enum.push("paused");
    });
    const { status, output } = runScript(project.dir, "scripts/release.mjs");
    expect(output).toContain(`${released} → ${major}.${minor + 1}.0 (minor; 0 breaking, 2 additive`);
    expect(status).toBe(0);
    expect(version()).toBe(`${major}.${minor + 1}.0`);
    expect((JSON.parse(read("package-lock.json")) as { version: string }).version).toBe(`${major}.${minor + 1}.0`);
    expect(read("src/core/version.ts")).toContain(`export const VERSION = "${major}.${minor + 1}.0";`);
    const changelog = read("CHANGELOG.md");
    expect(changelog).toMatch(
      new RegExp(`## ${major}\\.${minor + 1}\\.0 \\(\\d{4}-\\d{2}-\\d{2}\\)\\n\\nAPI v1\\.1\\.0 \\(was v1\\.0\\.0\\); a minor release`),
    );
    expect(changelog).toContain("### Added");
    expect(changelog).toContain("Enum of `status` gained values: 'paused'.");
    expect(changelog).toContain("Run/properties/owner");
    expect(changelog.indexOf(`## ${major}.${minor + 1}.0`)).toBeLessThan(changelog.indexOf(`## ${released}`));
    expect(read("openapi/released/signal.yaml")).toBe(read("openapi/signal.yaml"));

    const gate = runScript(project.dir, "scripts/check.mjs", ["--only", "compat"]);
    expect(gate.output).not.toContain("additive change(s)");
    expect(gate.status).toBe(0);
  });

  it("refuses a breaking change while info.version keeps its major, and writes nothing", () => {
    editYaml(join(project.dir, "openapi/signal.yaml"), (doc) => {
      delete doc.components.schemas.ForwardBackwardResult.properties.loss;
      doc.components.schemas.ForwardBackwardResult.required = doc.components.schemas.ForwardBackwardResult.required.filter((f: string) => f !== "loss");
    });
    const { status, output } = runScript(project.dir, "scripts/release.mjs");
    expect(status).toBe(1);
    expect(output).toContain("Property `loss` of `ForwardBackwardResult` was removed.");
    expect(version()).toBe(released);
    expect(read("openapi/released/signal.yaml")).toBe(readFileSync(join(root, "openapi/released/signal.yaml"), "utf8"));
  });

  it("makes a major release for a breaking change once info.version's major is bumped", () => {
    editYaml(join(project.dir, "openapi/signal.yaml"), (doc) => {
      doc.info.version = "2.0.0";
      delete doc.paths["/v1/runs/{run_id}"].delete;
    });
    const { status } = runScript(project.dir, "scripts/release.mjs");
    expect(status).toBe(0);
    expect(version()).toBe(`${major + 1}.0.0`);
    expect(read("CHANGELOG.md")).toMatch(
      /### Breaking changes\n\n- deleteRun \(DELETE \/v1\/runs\/\{run_id\}\), operation: Operation `DELETE \/v1\/runs\/\{run_id\}` was removed\. Breaks existing clients: existing calls to this operation now fail\./,
    );
  });

  it("makes a patch release when nothing in the API changed", () => {
    const { status } = runScript(project.dir, "scripts/release.mjs");
    expect(status).toBe(0);
    expect(version()).toBe(`${major}.${minor}.${patch + 1}`);
    expect(read("CHANGELOG.md")).toContain("No change to the API.");
  });
});
