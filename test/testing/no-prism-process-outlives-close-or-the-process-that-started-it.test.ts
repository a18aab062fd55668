import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createMockServer } from "../../src/testing/index.js";
import { isRunning, prismChildrenOf, waitUntilGone } from "./processes.js";

const fixture = fileURLToPath(new URL("./fixtures/hold-a-mock.ts", import.meta.url));

/** Runs the fixture in its own process; resolves with that process and its Prism's pid. */
async function holdAMock(mode: "hang" | "throw"): Promise<{ child: ChildProcess; prismPid: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.resume();
  while (!out.includes("\n")) {
    const [exited] = await Promise.race([once(child.stdout!, "data").then(() => [false]), once(child, "exit").then(() => [true])]);
    if (exited && !out.includes("\n")) throw new Error("the fixture exited before its mock started");
  }
  const { pid } = JSON.parse(out.split("\n")[0]!) as { pid: number };
  const [prismPid] = prismChildrenOf(pid);
  if (prismPid === undefined) throw new Error("no Prism child found");
  return { child, prismPid };
}

describe("the mock's Prism process", () => {
  it("has exited when close() resolves, and the URL no longer answers", async () => {
    const mock = await createMockServer();
    const [prismPid] = prismChildrenOf(process.pid);
    expect(prismPid).toBeDefined();
    await mock.close();
    expect(isRunning(prismPid!)).toBe(false);
    await expect(fetch(`${mock.url}/v1/health`)).rejects.toThrow();
    await mock.close(); // a second close is a no-op
  });

  it("is stopped by `await using` when the test throws half-way", async () => {
    let prismPid: number | undefined;
    const failingTest = async () => {
      await using mock = await createMockServer();
      [prismPid] = prismChildrenOf(process.pid);
      await fetch(`${mock.url}/v1/health`);
      throw new Error("assertion failed half-way");
    };
    await expect(failingTest()).rejects.toThrow("assertion failed half-way");
    expect(prismPid).toBeDefined();
    expect(isRunning(prismPid!)).toBe(false);
  });

  it("ends when the process that started it is killed with SIGKILL (no close, no exit handler)", async () => {
    const { child, prismPid } = await holdAMock("hang");
    expect(isRunning(prismPid)).toBe(true);
    child.kill("SIGKILL");
    await waitUntilGone(prismPid);
  });

  it("ends when the process that started it dies of an uncaught error", async () => {
    const { child, prismPid } = await holdAMock("throw");
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).not.toBe(0);
    await waitUntilGone(prismPid);
  });
});
