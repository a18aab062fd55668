#!/usr/bin/env node
// The `signal` command. A published package runs the compiled CLI from dist/; a fresh clone
// (after `npm ci`, no build) runs the TypeScript source through tsx, a devDependency.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const compiled = ["dist/server/cli.js", "dist/src/server/cli.js"].map((p) => root + p).find((p) => existsSync(p));

let cli;
if (compiled) {
  cli = await import(pathToFileURL(compiled).href);
} else {
  try {
    const { register } = await import("tsx/esm/api");
    register();
  } catch {
    process.stderr.write("signal: no build found in dist/ and tsx is not installed: run `npm run build` or `npm ci`.\n");
    process.exit(1);
  }
  cli = await import(pathToFileURL(root + "src/server/cli.ts").href);
}
const code = await cli.main(process.argv.slice(2));
if (code !== 0) process.exit(code);
