import type { LevelLogger } from "./logger.js";

const warned = new Set<string>();

/**
 * Warns once per process (at `warn`, through the client's logger) that `name` is deprecated in
 * favour of `replacement`. The old name keeps working until the next major version.
 */
export function warnDeprecated(logger: LevelLogger, name: string, replacement: string): void {
  if (warned.has(name)) return;
  warned.add(name);
  logger.warn(`${name} is deprecated and will be removed in the next major version; use ${replacement}.`);
}
