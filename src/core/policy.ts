/**
 * The three request policies (the README's "Policies" table), one typed defaults
 * object each. A client copies one of these and lets its own options override single fields.
 */
import { definedOnly } from "../internal/defined-only.js";

/** How a client spaces its attempts. */
export interface Backoff {
  /**
   * `"exponential"`: `initialDelay · 2ⁿ` capped at `maxDelay`, with full jitter in its upper half;
   * `"immediate"`: retry at once.
   */
  kind: "exponential" | "immediate";
  /** Delay before the first retry, in ms. */
  initialDelay: number;
  /** Cap of the computed delay, in ms (`Retry-After` may ask for longer and is honoured). */
  maxDelay: number;
}

/** Timeout, retries and backoff of one client kind. */
export interface RequestPolicy {
  /** Timeout of each attempt in ms (headers and, for JSON, the body). */
  timeout: number;
  /** Retries after the first attempt; 0 turns retrying off. */
  maxRetries: number;
  backoff: Backoff;
}

/** The simple `SignalClient`. */
export const simplePolicy: Readonly<RequestPolicy> = Object.freeze({
  /** @default 60_000 (60 s) */
  timeout: 60_000,
  /** @default 2 */
  maxRetries: 2,
  /** @default exponential 500 ms · 2ⁿ, cap 8 s, jitter */
  backoff: Object.freeze({ kind: "exponential", initialDelay: 500, maxDelay: 8_000 }),
});

/** `TrainingClient`: long steps, and it waits out overload rather than failing a run. */
export const trainingPolicy: Readonly<RequestPolicy> = Object.freeze({
  /** @default 3_600_000 (1 h) */
  timeout: 3_600_000,
  /** @default 3 */
  maxRetries: 3,
  /** @default exponential 1 s · 2ⁿ, cap 60 s, jitter */
  backoff: Object.freeze({ kind: "exponential", initialDelay: 1_000, maxDelay: 60_000 }),
});

/** `InferenceClient`: low latency, so a failed attempt is retried at once. */
export const inferencePolicy: Readonly<RequestPolicy> = Object.freeze({
  /** @default 30_000 (30 s) */
  timeout: 30_000,
  /** @default 2 */
  maxRetries: 2,
  /** @default immediate */
  backoff: Object.freeze({ kind: "immediate", initialDelay: 0, maxDelay: 0 }),
});

/** What a caller may override of a policy; `undefined` keeps the base value. */
export interface PolicyOverrides {
  timeout?: number | undefined;
  maxRetries?: number | undefined;
  /** Fields of the backoff to replace, e.g. `{ initialDelay: 50 }` for a fast local loop. */
  backoff?: Partial<Backoff> | undefined;
}

/** A policy with the caller's overrides laid over it (`undefined` keeps the base). */
export function withOverrides(base: Readonly<RequestPolicy>, overrides: PolicyOverrides): RequestPolicy {
  return {
    timeout: overrides.timeout ?? base.timeout,
    maxRetries: overrides.maxRetries ?? base.maxRetries,
    backoff: overrides.backoff ? { ...base.backoff, ...definedOnly(overrides.backoff) } : base.backoff,
  };
}
