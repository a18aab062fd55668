import { readFileSync } from "node:fs";
import { DEFAULT_KV_BUDGET_BYTES } from "./engine/types.js";

/**
 * The bounds that keep the server answering under hostile clients and overload. Every one has a
 * default (`SERVER_LIMITS`); `startServer({ limits })` overrides any of them.
 */
export interface ServerLimits {
  /**
   * Open connections kept at once. A connection past the cap first closes the oldest one that
   * is not in the middle of a request (a slow or idle one); when every one is busy, it is served
   * only for `getHealth` and answered 503 `overloaded` otherwise.
   * @default half the process's soft descriptor limit, at most 1024 (512 under `ulimit -n 1024`)
   */
  maxConnections: number;
  /** Time a client has to send the request line and headers. @default 10 000 ms */
  headersTimeoutMs: number;
  /** Time a client has to send the whole request, body included. @default 30 000 ms */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. @default 5 000 ms */
  keepAliveTimeoutMs: number;
  /**
   * Engine-bound calls (every POST but tokenize and detokenize: training, forward, checkpoints,
   * sampling, embeddings, completions; see `OPERATION_TRAITS`) ready to run, in progress or
   * waiting for the engine or their run's queue, over all runs; past it the server answers 503
   * `overloaded` with `Retry-After`. Calls still sending their body or waiting for an earlier
   * position of their sequence are not counted here (see `maxHeldPerKey`). @default 128
   */
  maxQueued: number;
  /** A run's engine-bound calls, held or ready; past it, 503 `overloaded` with `Retry-After`. @default 32 */
  maxQueuedPerRun: number;
  /** An API key's engine-bound calls, held or ready; past it, 429 `rate_limited` with `Retry-After`. @default 64 */
  maxQueuedPerKey: number;
  /**
   * Of one API key's engine-bound calls, those still sending their body or waiting for an
   * earlier position of their `Signal-Sequence`: they count against their key and run, never
   * against `maxQueued`, and past this many the key gets 429 `rate_limited` with `Retry-After`.
   * @default 32
   */
  maxHeldPerKey: number;
  /**
   * Largest `prompts × n × max_tokens` of one sampling call (the tokens it may generate); past it,
   * 400 `sample_too_large`. The default admits the largest request the schema and a 256-token
   * context allow (256 × 16 × 255). @default 1 048 576
   */
  maxSampleTokens: number;
  /**
   * A streamed answer whose client has not read for this long is cut off, which cancels its
   * generation (generation waits for the socket to drain meanwhile). @default 30 000 ms
   */
  streamStallMs: number;
  /**
   * Bytes of a streamed answer's events that may wait in the server for a slow client (past what
   * the socket itself buffers, and never less than its 16 KiB) before generation pauses until
   * the client reads. `Infinity` turns this backpressure off. @default 65 536
   */
  streamBufferBytes: number;
  /**
   * Runs the engine holds at once; past it the least recently used one is unloaded (after the
   * calls queued for it) and loaded again from the store when next used. Runs in use by a
   * request in progress are not unloaded. @default 64
   */
  maxLoadedRuns: number;
  /**
   * Bytes of runs one `listRuns` page holds: a page ends at `limit` runs or, with at least one
   * run in it, once its runs' JSON passes this (`has_more` is then true). @default 1 048 576 (1 MiB)
   */
  maxPageBytes: number;
  /** A run unused for this long is unloaded from the engine (`Infinity`: never). @default 600 000 ms */
  runIdleMs: number;
  /**
   * KV-cache memory per engine worker for the sequences decoding at once, when the server starts
   * its own engine. A larger sampling call is decoded in waves that fit (a seeded call's output
   * does not change); one whose `n` sequences of a single prompt can never fit is a 400
   * `sample_too_large` naming `n`. @default 268 435 456 (256 MiB)
   */
  kvBudgetBytes: number;
}

/** The defaults of `ServerLimits`, documented there. */
export const SERVER_LIMITS: Readonly<ServerLimits> = {
  maxConnections: defaultMaxConnections(),
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxQueued: 128,
  maxQueuedPerRun: 32,
  maxQueuedPerKey: 64,
  maxHeldPerKey: 32,
  maxSampleTokens: 1_048_576,
  streamStallMs: 30_000,
  streamBufferBytes: 65_536,
  maxLoadedRuns: 64,
  maxPageBytes: 1_048_576,
  runIdleMs: 600_000,
  kvBudgetBytes: DEFAULT_KV_BUDGET_BYTES,
};

/** The defaults with `overrides` applied. @throws RangeError naming a limit that is not a positive number. */
export function resolveLimits(overrides: Partial<ServerLimits> = {}): ServerLimits {
  const limits: ServerLimits = { ...SERVER_LIMITS };
  for (const [name, value] of Object.entries(overrides) as [keyof ServerLimits, number | undefined][]) {
    if (value === undefined) continue;
    if (!(name in SERVER_LIMITS)) throw new RangeError(`limits.${name} is not a server limit; known: ${Object.keys(SERVER_LIMITS).join(", ")}`);
    if (typeof value !== "number" || !(value > 0)) throw new RangeError(`limits.${name} must be a positive number, got ${String(value)}`);
    limits[name] = value;
  }
  return limits;
}

/**
 * Half the soft `RLIMIT_NOFILE` (the rest is for files, the engine's workers and the store), at
 * most 1024. Node has no getrlimit; Linux shows it in /proc, elsewhere 512 is assumed.
 */
function defaultMaxConnections(): number {
  let soft = 1024;
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (line?.[1] !== undefined) soft = line[1] === "unlimited" ? 2048 : Number(line[1]);
  } catch {
    // not Linux: keep the assumption
  }
  return Math.max(16, Math.min(1024, Math.floor(soft / 2)));
}
