import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isRunning, prismChildrenOf } from "./processes.js";

const bin = fileURLToPath(new URL("../../bin/signal.js", import.meta.url));

describe("frontier-signal mock", () => {
  it("prints its URL and key, answers with that key, and stops its Prism on SIGTERM", async () => {
    const child = spawn(process.execPath, [bin, "mock", "--port", "0", "--api-key", "sk-cli-test"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    while (!/^key .+$/m.test(out)) {
      const exited = await Promise.race([once(child.stdout, "data").then(() => false), once(child, "exit").then(() => true)]);
      if (exited) throw new Error(`mock exited before it printed its key:\n${out}${err}`);
    }
    const url = /^url (\S+)$/m.exec(out)![1]!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).toMatch(/^key sk-cli-test$/m);
    const [prismPid] = prismChildrenOf(child.pid!);
    expect(prismPid).toBeDefined();

    expect((await fetch(`${url}/v1/models`, { headers: { authorization: "Bearer sk-cli-test" } })).status).toBe(200);
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: "Bearer sk-other" } })).status).toBe(401);

    child.kill("SIGTERM");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(0);
    expect(isRunning(prismPid!)).toBe(false);
  });

  it("refuses a port that is not a number, with the usage", async () => {
    const child = spawn(process.execPath, [bin, "mock", "--port", "x"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(2);
    expect(err).toContain("--port must be an integer");
  });
});
