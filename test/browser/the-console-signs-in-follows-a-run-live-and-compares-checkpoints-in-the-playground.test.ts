import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import axe from "axe-core";
import { type BrowserContext, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SignalClient } from "../../src/index.js";
import type { Engine } from "../../src/server/engine/types.js";
import { CONSOLE_CSP } from "../../src/server/http/console.js";
import { buildConsole } from "../helpers/built-console.js";
import { QA, type TestServer, startTestServer, testEngine } from "../server/helpers.js";

/** Debian's chromium driven by playwright-core, launched as the cross-origin browser test does. */
const CHROMIUM = "/usr/bin/chromium";
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
/** Screenshots of each page, kept as artifacts of the run (not committed). */
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const AXE: string = axe.source;

let engine: Engine | undefined;
let server: TestServer | undefined;
let bare: TestServer | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;
let sdk: SignalClient;
let page: Page;
const serverLog: string[] = [];
const problems: string[] = [];
const requested: string[] = [];

beforeAll(async () => {
  const consoleDir = await buildConsole();
  engine = await testEngine();
  server = await startTestServer(engine, { consoleDir, log: (line) => serverLog.push(line) });
  bare = await startTestServer(engine, { console: false });
  sdk = new SignalClient({ apiKey: server.key, baseUrl: server.url });
  mkdirSync(ARTIFACTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), "signal-console-chromium-"));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(`${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("request", (request) => requested.push(request.url()));
}, 240_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await sdk?.close();
  await server?.dispose();
  await bare?.dispose();
  await engine?.close();
});

/** axe-core's violations of impact serious or critical on the page as it is now. */
async function seriousViolations(): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern (an injected <script> would be refused).
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (context: Document) => Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe;
    return (await axe.run(document)).violations.map((v) => ({ id: v.id, impact: v.impact, count: v.nodes.length }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id} (${v.count})`);
}

async function shoot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: true });
}

describe("the web console, served by the local server at /", () => {
  it("serves the page under a strict CSP, and nothing at / with console: false (--no-console)", async () => {
    const response = await fetch(`${server!.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("connect-src 'self'");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await response.text();
    // No inline script: every script is a file of this origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect((await fetch(`${server!.url}/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${server!.url}/assets/%2e%2e/%2e%2e/package.json`)).status).toBe(404);
    const off = await fetch(`${bare!.url}/`);
    expect(off.status).toBe(404);
    expect((await off.json()).error.code).toBe("route_not_found");
  });

  it("says so when the key is wrong, and signs in with the right one from the keyboard", async () => {
    await page.goto(`${server!.url}/`);
    const field = page.getByLabel("API key");
    await expect.poll(() => field.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.type("sk-not-a-key");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/refused this API key/);
    await shoot("sign-in");
    expect(await seriousViolations()).toEqual([]);
    await field.fill("");
    await field.focus();
    await page.keyboard.type(server!.key);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Runs" }).waitFor();
  });

  it("lists a run the SDK creates, and follows its step live while the SDK trains", async () => {
    const run = await sdk.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.02, seed: 1, metadata: { name: "console-demo" } });
    const row = page.locator(`tr[data-run-id="${run.run_id}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("console-demo");
    expect(await row.textContent()).toContain("signal-byte-tiny");
    expect(await seriousViolations()).toEqual([]);

    await row.getByRole("link", { name: "console-demo" }).click();
    await expect.poll(() => page.locator("#current-step").textContent()).toBe("0");
    await expect.poll(() => page.locator("#live-state").textContent()).toBe("live");
    const seen = new Set<string>();
    const training = sdk.training(run.run_id);
    for (let i = 1; i <= 30; i++) {
      await training.trainBatch(QA);
      seen.add((await page.locator("#current-step").textContent()) ?? "");
      if (i === 10 || i === 20) await training.saveCheckpoint({ mode: i === 20 ? "state" : "adapter" });
    }
    await training.close();
    await expect.poll(() => page.locator("#current-step").textContent()).toBe("30");
    // It advanced while the loop ran, not only at the end.
    expect([...seen].filter((s) => s !== "0" && s !== "30").length).toBeGreaterThan(0);
    await page.locator('tr[data-step="20"]').waitFor();
    expect(await page.locator("figure.chart").count()).toBeGreaterThanOrEqual(4);
    await expect.poll(() => page.locator('figure[aria-label="Loss"] .sr-only').textContent()).toMatch(/over 30 steps/);
    await shoot("run");
    expect(await seriousViolations()).toEqual([]);

    // Delete asks first; declining keeps the checkpoint, accepting removes it (and the SDK agrees).
    page.once("dialog", (dialog) => void dialog.dismiss());
    await page.getByRole("button", { name: "Delete step 10" }).click();
    expect((await sdk.listCheckpoints(run.run_id)).data.map((c) => c.step)).toEqual([10, 20]);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete step 10" }).click();
    await page.locator('tr[data-step="10"]').waitFor({ state: "detached" });
    expect((await sdk.listCheckpoints(run.run_id)).data.map((c) => c.step)).toEqual([20]);
    await sdk.saveState(run.run_id, { mode: "adapter" });
    await page.locator('tr[data-step="30"]').waitFor();
    // Download gives the adapter's safetensors bytes, the same as the SDK's downloadCheckpoint.
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download step 20" }).click()]);
    expect(download.suggestedFilename()).toBe(`${run.run_id}-step-20-adapter_model.safetensors`);
    expect(new Uint8Array(readFileSync(await download.path()))).toEqual(await sdk.downloadCheckpoint(run.run_id, 20));

    // The playground: greedy answers of the checkpoint and the live weights, streamed side by side.
    await page.getByRole("link", { name: "Open in playground" }).click();
    await page.getByLabel("Prompt").fill(QA[0]!.prompt);
    await page.getByLabel("Temperature").fill("0");
    await page.getByLabel("Max tokens").fill("12");
    await page.getByLabel("Checkpoint at step 20 (state)").check();
    await page.getByRole("button", { name: "Sample" }).click();
    const live = page.locator('pre[data-weights="live"][data-done="true"]');
    const step20 = page.locator('pre[data-weights="20"][data-done="true"]');
    await live.waitFor();
    await step20.waitFor();
    const params = { temperature: 0, max_tokens: 12, stop: ["\n"] };
    expect(await live.textContent()).toBe((await sdk.sample(run.run_id, [QA[0]!.prompt], params))[0]);
    expect(await step20.textContent()).toBe((await sdk.sample(run.run_id, [QA[0]!.prompt], { ...params, step: 20 }))[0]);
    await shoot("playground");
    expect(await seriousViolations()).toEqual([]);

    // Restore asks first, then the run is back at step 20, its later metric rows dropped.
    await page.getByRole("link", { name: "Back to the run" }).click();
    await page.locator('tr[data-step="20"]').waitFor();
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Restore step 20" }).click();
    await expect.poll(() => page.locator("#current-step").textContent()).toBe("20");
    expect((await sdk.getRun(run.run_id)).current_step).toBe(20);
    await expect.poll(() => page.locator('figure[aria-label="Loss"] .sr-only').textContent()).toMatch(/over 20 steps/);
  }, 180_000);

  it("overlays 2 runs' curves on the compare page", async () => {
    const other = await sdk.createRun({ base_model: "signal-byte-tiny", learning_rate: 0.01, seed: 2, metadata: { name: "console-other" } });
    for (let i = 0; i < 5; i++) await sdk.trainBatch(other.run_id, QA);
    await page.goto(`${server!.url}/#/`);
    await page.getByRole("checkbox", { name: "Compare console-demo" }).check();
    await page.getByRole("checkbox", { name: "Compare console-other" }).check();
    await page.getByRole("link", { name: "Compare selected" }).click();
    // The union of both runs' steps: console-demo's 20 (after the restore) and console-other's 5.
    await expect.poll(() => page.locator("figure.chart .sr-only").textContent()).toMatch(/over 20 steps/);
    expect(await page.locator(".legend-list li").allTextContents()).toEqual(["console-demo", "console-other"]);
    await shoot("compare");
    expect(await seriousViolations()).toEqual([]);
  });

  it("kept the key out of every URL, localStorage, cookies and the server log; no console errors; no other origin", async () => {
    const key = server!.key;
    const origin = new URL(server!.url).origin;
    for (const url of requested) {
      expect(url).not.toContain(key);
      expect(url.startsWith(origin) || url.startsWith("data:") || url.startsWith("blob:")).toBe(true);
    }
    expect(page.url()).not.toContain(key);
    expect(await page.evaluate(() => ({ local: localStorage.length, cookie: document.cookie }))).toEqual({ local: 0, cookie: "" });
    // sessionStorage, for this tab only, is the one place the console keeps it.
    expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([key]);
    expect(serverLog.length).toBeGreaterThan(0);
    expect(serverLog.filter((line) => line.includes(key))).toEqual([]);
    // The one failed load is the wrong key's 401, which the browser itself reports.
    const refused = problems.filter((p) => /Failed to load resource: .*status of 401/.test(p));
    expect(refused).toHaveLength(1);
    expect(problems.filter((p) => !refused.includes(p))).toEqual([]);
  });
});
