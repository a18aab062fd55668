import { fileURLToPath } from "node:url";
import { type PrismChild, startPrism as startPrismChild } from "../../src/testing/prism-process.js";
import { freePort } from "./free-port.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Starts Prism as a real process (`mock` on the spec, or `proxy --errors` in front of a server)
 * on a free loopback port and resolves once it is listening: the same child process
 * `createMockServer` starts, so it cannot outlive the process that started it, whatever ends
 * that process (a file that starts one at its top level is imported by `vitest list` without
 * its afterAll ever running).
 */
export async function startPrism(mode: { kind: "mock"; spec?: string } | { kind: "proxy"; upstream: string }): Promise<PrismChild> {
  const spec = `${root}openapi/signal.yaml`;
  const command = mode.kind === "mock" ? { mock: mode.spec ?? spec } : { proxy: spec, upstream: mode.upstream, errors: true };
  return startPrismChild(command, await freePort(), 30_000);
}

export type { PrismChild as PrismProcess };
