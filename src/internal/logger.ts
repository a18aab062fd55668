/**
 * Logging of the transport. Lines never contain the API key: headers are not logged, and every
 * line is passed through the redactor anyway.
 */
import { SignalError } from "../errors.js";
import { readEnv } from "./env.js";

/** The four methods the SDK logs with: `console`, pino and winston all fit. */
export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

/**
 * How much the SDK logs: `debug` every request, response and retry; `info` retries; `warn`
 * deprecated calls; `error` nothing the SDK does not also throw; `off` nothing.
 */
export type LogLevel = "off" | "error" | "warn" | "info" | "debug";

const LEVELS: Record<LogLevel, number> = { off: 0, error: 1, warn: 2, info: 3, debug: 4 };
type Method = Exclude<LogLevel, "off">;

/** The logger the transport calls: one method per level, the ones below the level no-ops. */
export type LevelLogger = Record<Method, (message: string, fields?: Record<string, unknown>) => void> & {
  /** True when `debug` lines go anywhere (so the transport can skip building them). */
  readonly debugging: boolean;
};

function isLogLevel(value: string): value is LogLevel {
  return Object.hasOwn(LEVELS, value);
}

/**
 * The level and logger of a client. The level is `logLevel`, else `SIGNAL_LOG`, else `debug`
 * when a `logger` is given (the logger's own level filters) and `warn` otherwise; the logger
 * is the given one, else `console` (stderr in Node) with a `[signal]` prefix.
 * @throws SignalError naming `logLevel` or `SIGNAL_LOG` for a value that is not a level.
 */
export function resolveLogger(
  logger: Partial<Logger> | undefined,
  logLevel: LogLevel | undefined,
  env: (name: string) => string | undefined = readEnv,
): LevelLogger {
  let level: LogLevel;
  if (logLevel !== undefined) {
    if (!isLogLevel(logLevel)) throw new SignalError(`logLevel must be one of off, error, warn, info, debug; got ${JSON.stringify(logLevel)}.`);
    level = logLevel;
  } else {
    const fromEnv = env("SIGNAL_LOG")?.toLowerCase();
    if (fromEnv !== undefined && fromEnv !== "") {
      if (!isLogLevel(fromEnv)) throw new SignalError(`SIGNAL_LOG must be one of off, error, warn, info, debug; got ${JSON.stringify(fromEnv)}.`);
      level = fromEnv;
    } else level = logger ? "debug" : "warn";
  }
  const sink: Partial<Logger> = logger ?? consoleLogger();
  const at = LEVELS[level];
  const method = (name: Method) => (at >= LEVELS[name] && typeof sink[name] === "function" ? sink[name].bind(sink) : noop);
  return {
    error: method("error"),
    warn: method("warn"),
    info: method("info"),
    debug: method("debug"),
    debugging: at >= LEVELS.debug && typeof sink.debug === "function",
  };
}

function noop(): void {}

function consoleLogger(): Logger {
  const line = (write: (...args: unknown[]) => void) => (message: string, fields?: Record<string, unknown>) => write(`[signal] ${message}`, fields ?? "");
  // console.error for every level: in Node it goes to stderr, away from a program's output.
  return { error: line(console.error), warn: line(console.error), info: line(console.error), debug: line(console.error) };
}

/** A redactor that replaces every occurrence of `secret` with a short masked form. */
export function makeRedactor(secret: string | undefined): (text: string) => string {
  if (secret === undefined || secret.length < 4) return (text) => text;
  const masked = maskKey(secret);
  return (text) => text.split(secret).join(masked);
}

/** `sk-abc…wxyz` style mask, safe to show: never more than the last 4 characters. */
function maskKey(key: string): string {
  return key.length <= 8 ? "***" : `${key.slice(0, 3)}***${key.slice(-4)}`;
}
