import { VERSION } from "../core/version.js";

interface RuntimeGlobals {
  Deno?: { version?: { deno?: string } };
  Bun?: { version?: string };
  process?: { versions?: { node?: string }; platform?: string };
  document?: unknown;
  navigator?: { userAgent?: string };
}

/** `node/20.20.2 linux`, `bun/1.4.0`, `deno/2.9.0`, `browser`: the runtime, for the client header. */
function runtimeName(globals: RuntimeGlobals = globalThis as RuntimeGlobals): string {
  if (globals.Deno?.version?.deno) return `deno/${globals.Deno.version.deno}`;
  if (globals.Bun?.version) return `bun/${globals.Bun.version}`;
  if (globals.process?.versions?.node) return `node/${globals.process.versions.node} ${globals.process.platform ?? ""}`.trim();
  if (globals.document !== undefined) return "browser";
  return "unknown";
}

/**
 * The headers that name the SDK on every request: `X-Signal-Client` everywhere (a browser does
 * not let a page set `User-Agent`), and `User-Agent` too outside browsers.
 */
export function clientHeaders(globals: RuntimeGlobals = globalThis as RuntimeGlobals): Record<string, string> {
  const runtime = runtimeName(globals);
  const name = `frontier-signal/${VERSION} (${runtime})`;
  return runtime === "browser" ? { "X-Signal-Client": name } : { "X-Signal-Client": name, "User-Agent": name };
}
