/**
 * Reads an environment variable where the runtime has them (Node, Bun, Deno's `process`
 * shim) and gives `undefined` elsewhere (browsers): the client entry never touches `process`
 * at import, and never fails for lack of it.
 */
export function readEnv(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.[name];
  return value === undefined ? undefined : value.trim();
}
