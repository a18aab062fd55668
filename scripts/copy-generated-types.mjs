#!/usr/bin/env node
// tsc does not copy .d.ts inputs to its output, but the emitted declarations import the
// generated types (`../generated/schema.js`): put them next to the build.
import { copyFileSync, mkdirSync } from "node:fs";

const root = new URL("..", import.meta.url);
mkdirSync(new URL("dist/generated", root), { recursive: true });
copyFileSync(new URL("generated/schema.d.ts", root), new URL("dist/generated/schema.d.ts", root));
