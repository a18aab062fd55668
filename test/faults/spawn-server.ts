import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../helpers/free-port.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A `signal serve` process from source, on a free port with its own data directory. */
export interface SpawnedServer {
  url: string;
  port: number;
  key: string;
  child: ChildProcess;
  /** Settles when the process has exited. */
  exited: Promise<void>;
  /** Everything it printed so far. */
  output(): string;
  /** SIGKILLs it and removes its data directory (unless the caller passed one). */
  dispose(): Promise<void>;
}

/**
 * Starts `signal serve` from the TypeScript source in a child process, optionally under a
 * descriptor limit (`ulimit -n`), and resolves once it listens.
 */
export async function spawnServer(
  options: { openFiles?: number; workers?: number; port?: number; dataDir?: string; key?: string } = {},
): Promise<SpawnedServer> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), "signal-spawned-")));
  const port = options.port ?? (await freePort());
  const key = options.key ?? "sk-spawned";
  const args = [
    "--import",
    "tsx",
    `${root}test/faults/serve-from-source.ts`,
    "serve",
    "--port",
    String(port),
    "--data-dir",
    dataDir,
    "--api-key",
    key,
    "--workers",
    String(options.workers ?? 1),
  ];
  const quoted = [process.execPath, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child =
    options.openFiles === undefined
      ? spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
      : spawn("/bin/sh", ["-c", `ulimit -n ${options.openFiles} && exec ${quoted}`], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(`listening on http://127.0.0.1:${port}`)) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then(() => reject(new Error(`signal serve exited before listening:\n${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    key,
    child,
    exited,
    output: () => output,
    dispose: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
