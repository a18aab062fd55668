/** Reads one environment variable. */
export type EnvReader = (name: string) => string | undefined;

/**
 * Reads an environment variable where the runtime has them (Node, Bun, Deno's `process`
 * shim) and gives `undefined` elsewhere (browsers, edge workers): the client entry never
 * touches `process` at import, and never fails for lack of it. In Deno without `--allow-env`
 * the read is refused; that counts as unset too, so a client given every option runs without
 * asking for a permission. Called only for options that were not passed.
 */
export const readEnv: EnvReader = (name) => {
  let value: string | undefined;
  try {
    value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  } catch {
    return undefined;
  }
  return value === undefined ? undefined : value.trim();
};
