#!/usr/bin/env node
// tsc does not copy .d.ts inputs to its output, but the emitted declarations import the
// generated types (`../generated/schema.js`): put them next to the build.
// Usage: node scripts/copy-generated-types.mjs [outDir]   (default dist, relative to the repo)
import { copyFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = resolve(root, process.argv[2] ?? "dist");
mkdirSync(resolve(outDir, "generated"), { recursive: true });
copyFileSync(resolve(root, "generated/schema.d.ts"), resolve(outDir, "generated/schema.d.ts"));
