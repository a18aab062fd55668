/**
 * Debug logging of the transport. Off unless a `logger` is given or `SIGNAL_LOG=debug` is set;
 * lines never contain the API key (headers are not logged, and every line is passed through
 * the redactor anyway).
 */
import { readEnv, type EnvReader } from "./env.js";

/** Anything with a `debug` method: `console`, pino, winston. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
}

/** The logger to use: the given one, a stderr logger when `SIGNAL_LOG=debug`, or none. */
export function resolveLogger(logger: Logger | undefined, env: EnvReader = readEnv): Logger | undefined {
  if (logger) return logger;
  if (env("SIGNAL_LOG")?.toLowerCase() === "debug") {
    return { debug: (message, fields) => console.error(`[signal] ${message}`, fields ?? "") };
  }
  return undefined;
}

/** A redactor that replaces every occurrence of `secret` with a short masked form. */
export function makeRedactor(secret: string | undefined): (text: string) => string {
  if (secret === undefined || secret.length < 4) return (text) => text;
  const masked = maskKey(secret);
  return (text) => text.split(secret).join(masked);
}

/** `sk-abc…wxyz` style mask, safe to show: never more than the last 4 characters. */
export function maskKey(key: string): string {
  return key.length <= 8 ? "***" : `${key.slice(0, 3)}***${key.slice(-4)}`;
}
