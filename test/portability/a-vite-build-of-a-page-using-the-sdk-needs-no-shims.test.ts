import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";
import { describe, expect, it } from "vitest";
import { buildPackage } from "../helpers/built-package.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

describe("a Vite app using the published package", () => {
  it("builds for the browser with no shims, no externalized Node built-ins and no warnings", async () => {
    const { consumer } = await buildPackage();
    const app = join(consumer, "vite-app");
    mkdirSync(app, { recursive: true });
    copyFileSync(join(root, "test/browser/fixtures/page.ts"), join(app, "page.ts"));
    writeFileSync(join(app, "index.html"), '<!doctype html><script type="module" src="./page.ts"></script>');
    const warnings: string[] = [];
    await build({
      root: app,
      logLevel: "silent",
      configFile: false,
      build: { outDir: join(app, "dist"), minify: true, write: true },
      customLogger: {
        info: () => {},
        warn: (message) => warnings.push(message),
        warnOnce: (message) => warnings.push(message),
        error: (message) => warnings.push(message),
        clearScreen: () => {},
        hasErrorLogged: () => false,
        hasWarned: false,
      },
    });
    expect(warnings).toEqual([]);
    const assets = readdirSync(join(app, "dist/assets")).filter((name) => name.endsWith(".js"));
    expect(assets.length).toBeGreaterThan(0);
    const code = assets.map((name) => readFileSync(join(app, "dist/assets", name), "utf8")).join("\n");
    expect(code).toContain("X-Signal-Client");
    expect(code).not.toMatch(/__vite-browser-external|node:crypto|randomUUID is not/);
  }, 240_000);
});
