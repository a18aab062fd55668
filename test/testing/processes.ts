import { readFileSync, readdirSync } from "node:fs";

/** Whether a process exists and is not a zombie (a zombie holds no port and runs nothing). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The pids of the running Prism processes whose parent is `parent`. */
export function prismChildrenOf(parent: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== parent) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("prism-cli") && isRunning(Number(entry))) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** Resolves once `pid` has stopped running; rejects if it still runs after `limitMs`. */
export async function waitUntilGone(pid: number, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} is still running ${limitMs} ms later`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
