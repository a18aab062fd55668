import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPackage, type BuiltPackage } from "../helpers/built-package.js";
import { startTestServer, type TestServer, useTestServer } from "../server/helpers.js";

/**
 * Debian's chromium (installed by .ci/run) driven by playwright-core. As root it needs
 * --no-sandbox, and a fresh profile with background networking off, or it keeps dialling out.
 */
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const page = fileURLToPath(new URL("./fixtures/page.ts", import.meta.url));

const fixture = useTestServer();
let pkg: BuiltPackage | undefined;
let admitted: Server | undefined;
let other: Server | undefined;
let strict: TestServer | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;

/** Serves the page and its bundle on 127.0.0.1 (a port of its own: another origin than the API). */
async function servePage(bundle: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/bundle.js")) {
      res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    } else if (req.url === "/favicon.ico") {
      res.writeHead(404).end();
    } else {
      res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/bundle.js"></script>');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

const originOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function report(pageServer: Server, api: TestServer, mode: string): Promise<Record<string, any>> {
  const tab = await context!.newPage();
  try {
    const query = new URLSearchParams({ baseUrl: api.url, apiKey: api.key, mode });
    await tab.goto(`${originOf(pageServer)}/?${query}`);
    await tab.waitForFunction(() => "__report" in window);
    return await tab.evaluate(() => (window as unknown as { __report: Promise<Record<string, unknown>> }).__report);
  } finally {
    await tab.close();
  }
}

beforeAll(async () => {
  pkg = await buildPackage();
  // Bundled for the browser from the package's own entry, with no shims, polyfills or defines.
  // The page is copied into the consumer: inside this checkout, `frontier-signal` would resolve
  // to the checkout itself (a package may import its own name), not to the built package.
  const entry = join(pkg.consumer, "browser-page.ts");
  copyFileSync(page, entry);
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  expect(Object.keys(result.metafile.inputs).filter((path) => path.includes("frontier-signal/dist/src/index.js"))).toHaveLength(1);
  const bundle = result.outputFiles[0]!.text;
  admitted = await servePage(bundle);
  other = await servePage(bundle);
  strict = await startTestServer(fixture.engine, { corsOrigins: [originOf(admitted)] });
  profile = mkdtempSync(join(tmpdir(), "signal-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
}, 240_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await strict?.dispose();
  for (const server of [admitted, other]) await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

describe("the SDK in headless Chromium, on a page of another origin than the local server", () => {
  it("trains, samples, streams, reads exposed headers and catches typed errors", async () => {
    const seen = await report(admitted!, strict!, "full");
    expect(seen.error).toBeUndefined();
    expect(seen.runId).toMatch(/^run_/);
    expect(seen.losses).toHaveLength(3);
    for (const loss of seen.losses as number[]) expect(Number.isFinite(loss)).toBe(true);
    expect(seen.samples).toHaveLength(1);
    expect(typeof seen.samples[0]).toBe("string");
    expect(seen.streamed.chunks).toBeGreaterThan(0);
    expect(seen.streamed.text).toBe(seen.samples[0]);
    expect(["length", "stop"]).toContain(seen.streamed.finish);
    expect(seen.notFound).toMatchObject({ isNotFound: true, isAPIError: true, status: 404, code: "run_not_found" });
    expect(seen.notFound.requestId).toMatch(/^req_/);
    expect(seen.validation).toEqual({ isValidationError: true, path: "lora_r" });
    expect(seen.replayed).toBe("true");
  });

  it("gets an APIConnectionError when the page's origin is not admitted (the browser withholds the answer)", async () => {
    const seen = await report(other!, strict!, "refused");
    expect(seen.error).toBeUndefined();
    expect(seen.connection).toEqual({ isConnectionError: true, name: "APIConnectionError" });
  });
});
