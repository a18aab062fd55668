import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPackage } from "../helpers/built-package.js";

// Debian's chromium driven by playwright-core, launched as the other browser test launches it.
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

// The page makes clients only: nothing is sent, so the remote URL is never dialled.
const PAGE = `
import { SignalClient, SignalError } from "frontier-signal";
const attempt = (options) => {
  try {
    new SignalClient(options);
    return "made";
  } catch (error) {
    return error instanceof SignalError ? "refused: " + error.message : "other: " + String(error);
  }
};
window.__report = {
  remote: attempt({ apiKey: "sk-live-secret", baseUrl: "https://api.frontier-signal.example" }),
  remoteAllowed: attempt({ apiKey: "sk-live-secret", baseUrl: "https://api.frontier-signal.example", dangerouslyAllowBrowser: true }),
  loopback: attempt({ apiKey: "sk-local", baseUrl: "http://127.0.0.1:7300" }),
  localhost: attempt({ apiKey: "sk-local", baseUrl: "http://localhost:5173" }),
  withOptions: (() => {
    try {
      new SignalClient({ apiKey: "sk-local", baseUrl: "http://127.0.0.1:7300" }).withOptions({ baseUrl: "https://api.frontier-signal.example" });
      return "made";
    } catch (error) {
      return error instanceof SignalError ? "refused" : "other";
    }
  })(),
};
`;

let server: Server | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;

beforeAll(async () => {
  const pkg = await buildPackage();
  const entry = join(pkg.consumer, "guard-page.js");
  writeFileSync(entry, PAGE);
  const result = await build({ entryPoints: [entry], bundle: true, platform: "browser", format: "esm", target: "es2022", write: false, logLevel: "silent" });
  const bundle = result.outputFiles[0]!.text;
  server = createServer((req, res) => {
    if (req.url === "/bundle.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    else if (req.url === "/")
      res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/bundle.js"></script>');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  profile = mkdtempSync(join(tmpdir(), "signal-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
}, 240_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

describe("a client with an API key in a real browser page (headless Chromium)", () => {
  it("is refused for a non-loopback baseUrl unless dangerouslyAllowBrowser: true; loopback is allowed", async () => {
    const tab = await context!.newPage();
    try {
      await tab.goto(`http://127.0.0.1:${(server!.address() as AddressInfo).port}/`);
      await tab.waitForFunction(() => "__report" in window);
      const seen = (await tab.evaluate(() => (window as unknown as { __report: Record<string, string> }).__report)) as Record<string, string>;
      expect(seen.remote).toMatch(/^refused: .*dangerouslyAllowBrowser: true/);
      expect(seen.remote).not.toContain("sk-live-secret");
      expect(seen.remoteAllowed).toBe("made");
      expect(seen.loopback).toBe("made");
      expect(seen.localhost).toBe("made");
      expect(seen.withOptions).toBe("refused");
    } finally {
      await tab.close();
    }
  });
});
