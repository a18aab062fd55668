#!/usr/bin/env node
// `npm run check`: the contract gate.
// 1. generated/ is a snapshot: regenerate from the spec and fail if any file changed
//    (a hand edit, or a spec change whose output was not committed).
// 2. Lint the spec with Redocly (zero errors, zero warnings).
// 3. Compatibility: diff the spec against the last released one (openapi/released/) and fail on
//    a change that breaks existing clients unless info.version's major was bumped.
// 4. Public API: the api/*.api.md reports must match what src/ exports.
// 5. Type-check the whole project (src, generated, tests, scripts, examples).
// 6. Code lint and format: Biome (biome.json), `biome ci`, which changes nothing; `npm run format`
//    fixes the formatting.
// 7. Dead code: knip (knip.json) finds unused files, exports and dependencies.
// Steps 2–7 run at the same time once generated/ is fresh; each prints its own verdict.
// `--only compat,api` runs just those steps (keys: generated, lint, compat, api, types, code, unused).
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { apiReport } from "./api-report.mjs";
import { classify, describe, majorOf } from "./spec-compat.mjs";

const root = new URL("..", import.meta.url).pathname;
const generated = join(root, "generated");
const spec = join(root, "openapi/signal.yaml");
export const releasedSpec = join(root, "openapi/released/signal.yaml");
const redoclyEnv = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" };

const snapshot = () => {
  const files = new Map();
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(root, path), readFileSync(path, "utf8"));
    }
  };
  walk(generated);
  return files;
};

/** Runs one step; resolves to its verdict line and whatever it wants shown above it. */
async function step(name, fn) {
  const started = performance.now();
  try {
    const detail = await fn();
    return { ok: true, text: `${detail ? `${detail}\n` : ""}check: ${name} ok (${Math.round(performance.now() - started)} ms)` };
  } catch (error) {
    const detail = error?.detail ?? error?.message ?? String(error);
    return { ok: false, text: `${detail}\ncheck: ${name} FAILED` };
  }
}

const fail = (detail) => Object.assign(new Error(detail), { detail });

const run = async (args, options = {}) => {
  try {
    await promisify(execFile)(process.execPath, args, { cwd: root, maxBuffer: 64 * 1024 * 1024, ...options });
  } catch (error) {
    throw fail(`${error.stdout ?? ""}${error.stderr ?? ""}`.trim() || error.message);
  }
};

const onlyArg = process.argv.find((arg) => arg.startsWith("--only"));
const only = onlyArg ? new Set((onlyArg.split("=")[1] ?? process.argv[process.argv.indexOf(onlyArg) + 1] ?? "").split(",")) : undefined;
const wanted = (key) => only === undefined || only.has(key);
const skip = { ok: true, text: "" };

const freshness = !wanted("generated")
  ? skip
  : await step("generated/ matches the spec", () => {
      const before = snapshot();
      execFileSync(process.execPath, [join(root, "scripts/generate.mjs")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
      const after = snapshot();
      const drifted = [...new Set([...before.keys(), ...after.keys()])].filter((f) => before.get(f) !== after.get(f));
      if (drifted.length > 0) {
        throw fail(
          `check: generated/ drifted from openapi/signal.yaml in ${drifted.join(", ")}.\n` +
            "  generated/ is output: never edit it. It has now been regenerated; review and commit the result.",
        );
      }
    });
const show = (result) => (result.ok ? console.log : console.error)(result.text);
if (freshness.text) show(freshness);
if (!freshness.ok) process.exit(1);

const results = await Promise.all([
  !wanted("lint")
    ? skip
    : step("spec lint", () =>
        run([join(root, "node_modules/@redocly/cli/bin/cli.js"), "lint", "--max-problems", "50", "openapi/signal.yaml"], { env: redoclyEnv }),
      ),
  !wanted("compat")
    ? skip
    : step("spec compatibility with the released spec", async () => {
        const result = await classify(releasedSpec, spec);
        const breaking = result.changes.filter((c) => c.impact === "major");
        const against = `${relative(root, releasedSpec)} (v${result.baseVersion})`;
        if (breaking.length === 0) {
          const additive = result.changes.filter((c) => c.impact === "minor").length;
          return additive > 0 ? `check: ${additive} additive change(s) since ${against}; none breaks existing clients.` : "";
        }
        const list = breaking.map((c) => `  - ${describe(c)}`).join("\n");
        if (majorOf(result.revisionVersion) > majorOf(result.baseVersion)) {
          return `check: ${breaking.length} breaking change(s) since ${against}, allowed by the major bump to v${result.revisionVersion}:\n${list}`;
        }
        throw fail(
          `check: openapi/signal.yaml breaks existing clients: ${breaking.length} breaking change(s) since ${against}:\n${list}\n` +
            "  Make the change additive (a new optional field, a new operation), or, if the break is deliberate,\n" +
            `  bump info.version's major (${result.baseVersion} → ${majorOf(result.baseVersion) + 1}.0.0) so clients know.`,
        );
      }),
  !wanted("api")
    ? skip
    : step("public API report (api/*.api.md) matches src/", async () => {
        const { changed, problems } = await apiReport({ update: false });
        if (changed.length > 0) {
          throw fail(
            `check: the public API changed and ${changed.map((c) => c.report).join(", ")} ${changed.length === 1 ? "does" : "do"} not record it.\n` +
              "  Run `npm run api-report`, review the diff of api/ (is every change intended? a removed or\n" +
              "  narrowed export breaks users), and commit it with the change to src/.",
          );
        }
        if (problems.length > 0) throw fail(problems.map((p) => `  ${p}`).join("\n"));
      }),
  !wanted("types") ? skip : step("type-check", () => run([join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"])),
  !wanted("code") ? skip : step("code lint and format (Biome)", () => run([join(root, "node_modules/@biomejs/biome/bin/biome"), "ci", "--colors=off", "."])),
  !wanted("unused") ? skip : step("no unused files, exports or dependencies (knip)", () => run([join(root, "node_modules/knip/bin/knip.js"), "--no-progress"])),
]);
results.filter((r) => r.text).forEach(show);
if (results.some((r) => !r.ok)) process.exit(1);
