/** Reads one environment variable. */
export type EnvReader = (name: string) => string | undefined;

/**
 * The environment variable `name` where the runtime has one: Node, Bun and Deno's `process.env`.
 * In a browser or an edge worker there is no `process`, and in Deno without `--allow-env` the
 * read is refused: both count as unset, so a client given every option runs anywhere without
 * asking for a permission. Called only for options that were not passed.
 */
export const readEnv: EnvReader = (name) => {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  try {
    return proc?.env?.[name];
  } catch {
    return undefined;
  }
};
