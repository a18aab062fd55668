import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../../bin/signal.js", import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), "signal-no-console-"));
let child: ChildProcess | undefined;

afterAll(() => {
  child?.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("frontier-signal serve --no-console", () => {
  it("is in --help", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [bin, "--help"]);
    expect(stdout).toMatch(/--no-console\s+do not serve the web console/);
  });

  it("answers / with the API's 404 and prints no console address, while the API works", async () => {
    child = spawn(process.execPath, [bin, "serve", "--port", "0", "--workers", "1", "--data-dir", dataDir, "--api-key", "sk-cli", "--no-console"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const url = await new Promise<string>((resolve, reject) => {
      child!.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child!.once("exit", (code) => reject(new Error(`exited ${code}: ${output}`)));
    });
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(404);
    expect(page.headers.get("content-security-policy")).toBeNull();
    expect(((await page.json()) as { error: { code: string } }).error.code).toBe("route_not_found");
    expect(output).not.toContain("Web console");
    expect((await fetch(`${url}/v1/runs`, { headers: { authorization: "Bearer sk-cli" } })).status).toBe(200);
  }, 120_000);
});
