import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;

export interface ServerProcess {
  url: string;
  apiKey: string;
  stop(): Promise<void>;
}

/**
 * The local server as its own process (`signal serve`), so a benchmark's client side does not
 * share an event loop or a core's time slices with the server's request handling.
 */
export async function startServerProcess(options: { workers?: number; dataDir?: string; extraKeys?: string[] } = {}): Promise<ServerProcess> {
  // A given data dir is the caller's to keep; a fresh one is removed on stop.
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "signal-bench-data-"));
  const apiKey = `sk-bench-${process.pid}`;
  const args = [join(root, "bin/signal.js"), "serve", "--port", "0", "--data-dir", dataDir, "--api-key", apiKey];
  if (options.workers !== undefined) args.push("--workers", String(options.workers));
  for (const key of options.extraKeys ?? []) args.push("--api-key", key);
  const child: ChildProcess = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match?.[1]) {
        // From here on the per-request log lines are drained unread, at no cost to the benchmark.
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve(match[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`signal serve exited with ${code}: ${out}`)));
  });
  return {
    url,
    apiKey,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => {
          if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
