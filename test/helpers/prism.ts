import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort } from "./free-port.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface PrismProcess {
  url: string;
  /** Everything Prism printed, for diagnosing a failure. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts Prism as a real process (`mock` on the spec, or `proxy --errors` in front of a server)
 * on a free loopback port and resolves once it is listening. Spawned through node directly,
 * not npx, so killing it leaves no orphan holding the port.
 */
export async function startPrism(mode: { kind: "mock"; spec?: string } | { kind: "proxy"; upstream: string }): Promise<PrismProcess> {
  const port = await freePort();
  const cli = `${root}node_modules/@stoplight/prism-cli/dist/index.js`;
  const args =
    mode.kind === "mock"
      ? [cli, "mock", "-h", "127.0.0.1", "-p", String(port), mode.spec ?? "openapi/signal.yaml"]
      : [cli, "proxy", "--errors", "-h", "127.0.0.1", "-p", String(port), "openapi/signal.yaml", mode.upstream];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const url = `http://127.0.0.1:${port}`;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`Prism did not start within 30 s:\n${log}`)), 30_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("is listening on")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => fail(new Error(`Prism exited with code ${code}:\n${log}`)));
  });
  return { url, output: () => log, stop: () => stop(child) };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
