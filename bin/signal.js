#!/usr/bin/env node
// The `frontier-signal` command (`signal` is kept as an alias). In a checkout (src/ present,
// tsx installed as a dev dependency) it runs the TypeScript source, so it can never run a stale
// build; an installed package, which ships dist/ and not src/, runs the compiled CLI.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const source = `${root}src/server/cli.ts`;
const compiled = `${root}dist/src/server/cli.js`;

let cli;
if (existsSync(source)) {
  try {
    const { register } = await import("tsx/esm/api");
    register();
  } catch {
    process.stderr.write("frontier-signal: this is a source checkout but tsx is not installed: run `npm ci`.\n");
    process.exit(1);
  }
  cli = await import(pathToFileURL(source).href);
} else if (existsSync(compiled)) {
  cli = await import(pathToFileURL(compiled).href);
} else {
  process.stderr.write("frontier-signal: no build found in dist/: run `npm run build`.\n");
  process.exit(1);
}
const code = await cli.main(process.argv.slice(2));
if (code !== 0) process.exit(code);
