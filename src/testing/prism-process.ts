import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { MockServerError } from "./mock-server-error.js";

/** The Prism release this package is tested with, and the sub-package pins Node < 24 needs. */
const PRISM_VERSION = "5.14.2";
const PRISM_NODE20_OVERRIDES = {
  "@stoplight/prism-core": "5.8.0",
  "@stoplight/prism-http": "5.12.0",
  "@stoplight/prism-http-server": "5.12.2",
} as const;

/** What to tell someone whose Prism is missing or does not run on their Node. */
function prismInstallHint(): string {
  const overrides = JSON.stringify({ overrides: PRISM_NODE20_OVERRIDES }, null, 2).replace(/\n/g, "\n    ");
  return (
    `Install it as a dev dependency:\n` +
    `    npm install --save-dev @stoplight/prism-cli@^${PRISM_VERSION}\n` +
    `On Node 20 and 22 (this is Node ${process.versions.node}) newer Prism sub-packages need Node 24: ` +
    `first add to your package.json\n    ${overrides}\nthen run the install.`
  );
}

/** The path of Prism's CLI script, resolved from this package's own location. */
function prismCli(): string {
  const require = createRequire(import.meta.url);
  let manifest: string;
  try {
    manifest = require.resolve("@stoplight/prism-cli/package.json");
  } catch {
    throw new MockServerError(
      `createMockServer needs Prism (@stoplight/prism-cli), an optional peer dependency of frontier-signal that is not installed. ${prismInstallHint()}`,
    );
  }
  return path.join(path.dirname(manifest), "dist", "index.js");
}

/**
 * Ends Prism when the process that started it goes away for any reason, SIGKILL included: its
 * stdin is a pipe from the parent, and the parent's end closes when the parent dies.
 */
const WATCHDOG = `data:text/javascript,${encodeURIComponent("process.stdin.on('end',()=>process.exit(0)).on('error',()=>process.exit(0)).resume();")}`;
// Start-up is ~2 s of Prism's CPU: its modules (@faker-js/faker alone ~0.8 s, used even by
// static mocking, to print example paths) and the spec. A V8 compile cache did not shorten it.

/** Every Prism child still running, killed synchronously if this process exits without closing them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A Prism mock process. */
export interface PrismChild {
  url: string;
  /** Everything Prism printed (the tail of it), for diagnosing a failure. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly pid: number | undefined;
}

/** What Prism runs: a mock of a spec, or a validating proxy in front of a server. */
export type PrismCommand = { mock: string } | { proxy: string; upstream: string; errors?: boolean };

/**
 * Starts Prism (`prism mock <spec>`, or `prism proxy <spec> <upstream>`) on a loopback port, as
 * a child process of this one that cannot outlive it, and resolves once Prism is listening.
 *
 * @throws MockServerError when Prism is not installed, exits during start-up (the message carries
 *   its output and the install hint) or is not listening within `timeoutMs`.
 */
export async function startPrism(command: PrismCommand, port: number, timeoutMs: number): Promise<PrismChild> {
  const cli = prismCli();
  const where = ["-h", "127.0.0.1", "-p", String(port)];
  const args =
    "mock" in command ? ["mock", ...where, command.mock] : ["proxy", ...(command.errors ? ["--errors"] : []), ...where, command.proxy, command.upstream];
  const child = spawn(process.execPath, ["--import", WATCHDOG, cli, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, SCARF_ANALYTICS: "false", FORCE_COLOR: "0", NO_COLOR: "1" },
  });
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of running) c.kill("SIGKILL");
    });
  }
  let log = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => running.delete(child));
  const onData = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  // Prism must not keep the test process alive, nor die of a write to a closed pipe.
  child.stdin!.on("error", () => {});
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();

  const stop = async (graceMs = 2_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(force);
    }
  };

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop(0);
      reject(new MockServerError(`Prism did not start listening within ${timeoutMs} ms. Its output:\n${log}`));
    }, timeoutMs);
    const onListening = () => {
      if (log.includes("is listening on")) {
        clearTimeout(timer);
        child.stdout!.off("data", onListening);
        resolve();
      }
    };
    child.stdout!.on("data", onListening);
    void exited.then(() => {
      clearTimeout(timer);
      reject(
        new MockServerError(
          `Prism exited during start-up (code ${child.exitCode ?? child.signalCode}). Its output:\n${log.trim()}\n` +
            `If it is a syntax or engine error, the installed Prism sub-packages do not run on this Node. ${prismInstallHint()}`,
        ),
      );
    });
  });
  return { url: `http://127.0.0.1:${port}`, output: () => log, stop, pid: child.pid };
}
