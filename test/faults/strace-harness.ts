import { type ChildProcess, spawn, spawnSync } from "node:child_process";

/** Throws, saying what to install, when strace is missing: the crash-at-an-instant tests need it. */
export function requireStrace(): void {
  if (spawnSync("strace", ["-V"]).status !== 0) throw new Error("these tests need strace (Debian: apt-get install -y strace; .ci/run installs it)");
}

/** A raw HTTP call with the key: its status, its body parsed as JSON when it is JSON, and its bytes. */
export type RawApi = (method: string, pathname: string, body?: unknown) => Promise<{ status: number; json: any; bytes: Uint8Array }>;

/** `RawApi` against the server on `port()` (read at each call: a restarted server keeps the port). */
export function rawApi(port: () => number, key: string): RawApi {
  return async (method, pathname, body) => {
    const response = await fetch(`http://127.0.0.1:${port()}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      json = undefined;
    }
    return { status: response.status, json, bytes };
  };
}

/**
 * Attaches strace to every thread of `pid`, holding each of `syscalls` for `holdMs` on entry;
 * the strace process is added to `spawned` (for the test's clean-up).
 */
export async function holdSyscalls(pid: number, syscalls: string[], holdMs: number, spawned: ChildProcess[]): Promise<ChildProcess> {
  const list = syscalls.join(",");
  const strace = spawn("strace", ["-f", "-e", `trace=${list}`, "-e", `inject=${list}:delay_enter=${holdMs * 1000}`, "-o", "/dev/null", "-p", String(pid)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  spawned.push(strace);
  let err = "";
  await new Promise<void>((resolve, reject) => {
    strace.stderr!.on("data", (chunk: Buffer) => {
      err += chunk.toString();
      if (/attached/.test(err)) resolve();
    });
    strace.once("exit", (code) => reject(new Error(`strace exited (${String(code)}) before attaching: ${err}`)));
  });
  // Every thread of the process is attached within a moment of the first one.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return strace;
}
