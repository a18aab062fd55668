#!/usr/bin/env node
// `npm run check`: the contract gate.
// 1. generated/ is a snapshot: regenerate from the spec and fail if any file changed
//    (a hand edit, or a spec change whose output was not committed).
// 2. Lint the spec with Redocly (zero errors, zero warnings).
// 3. Type-check the whole project (src, generated, tests, scripts, examples).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const generated = join(root, "generated");

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

const step = (name, fn) => {
  const started = performance.now();
  try {
    fn();
  } catch {
    console.error(`check: ${name} FAILED (see above)`);
    process.exit(1);
  }
  console.log(`check: ${name} ok (${Math.round(performance.now() - started)} ms)`);
};

step("generated/ matches the spec", () => {
  const before = snapshot();
  execFileSync(process.execPath, [join(root, "scripts/generate.mjs")], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const after = snapshot();
  const drifted = [...new Set([...before.keys(), ...after.keys()])].filter((f) => before.get(f) !== after.get(f));
  if (drifted.length > 0) {
    console.error(
      `check: generated/ drifted from openapi/signal.yaml in ${drifted.join(", ")}.\n` +
        "  generated/ is output: never edit it. It has now been regenerated; review and commit the result.",
    );
    throw new Error("drift");
  }
});

step("spec lint", () => {
  execFileSync(process.execPath, [join(root, "node_modules/@redocly/cli/bin/cli.js"), "lint", "--max-problems", "50", "openapi/signal.yaml"], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  });
});

step("type-check", () => {
  execFileSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--noEmit"], {
    cwd: root,
    stdio: "inherit",
  });
});
