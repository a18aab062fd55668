import { zSampleBody } from "../generated/zod/zod.gen.js";
import { Lru } from "./internal/lru.js";
import type { SampleParams } from "./types.js";

/** What `getCacheStats()` returns. */
export interface CacheStats {
  /** Prompts held. */
  cache_size: number;
  /** Prompts answered from the cache since it was enabled or cleared. */
  hits: number;
  /** Prompts that had to be sent. */
  misses: number;
  /** hits / (hits + misses); 0 before any lookup. */
  hit_rate: number;
  enabled: boolean;
}

/** Options of `enableCache`. */
export interface CacheOptions {
  /** Most prompts kept, a positive integer; the least recently used go first. @default 1000 */
  maxEntries?: number | undefined;
  /**
   * Also cache sampling that is not reproducible (`temperature > 0` without a `seed`). Off by
   * default: such a call gives a different text each time, so a cached answer would silently
   * turn a random sample into a repeated one.
   * @default false
   */
  nondeterministic?: boolean | undefined;
}

/**
 * The per-prompt sample cache. The key is run, step, the sampling parameters after defaults
 * (so `{}` and `{ max_tokens: 64 }` share entries) and the prompt; the value is the prompt's
 * `n` completions. It only ever holds answers from pinned checkpoints (the client refuses to
 * enable it without a `step`), and by default only reproducible ones (greedy, or seeded: with
 * a seed a prompt's output does not depend on the other prompts of its request).
 */
export class SampleCache {
  readonly #lru: Lru<string, string[]>;
  readonly #nondeterministic: boolean;
  #hits = 0;
  #misses = 0;

  constructor(options: CacheOptions = {}) {
    // `max_entries` is the earlier spelling, still honoured (with a warning from enableCache) but
    // no longer in the type: SDK options are camelCase.
    this.#lru = new Lru(options.maxEntries ?? (options as { max_entries?: number }).max_entries ?? 1000);
    this.#nondeterministic = options.nondeterministic ?? false;
  }

  /** The key prefix for a call, or `undefined` when the call must not be cached. */
  scope(runId: string, step: number | undefined, params: SampleParams): string | undefined {
    if (step === undefined) return undefined;
    const normalized = zSampleBody.parse({ ...params, prompts: [""] }) as Record<string, unknown>;
    const reproducible = normalized.temperature === 0 || normalized.seed !== undefined;
    if (!reproducible && !this.#nondeterministic) return undefined;
    delete normalized.prompts;
    delete normalized.stream;
    delete normalized.step;
    const sorted = Object.fromEntries(Object.entries(normalized).sort(([a], [b]) => a.localeCompare(b)));
    return `${runId}\u0000${step}\u0000${JSON.stringify(sorted)}\u0000`;
  }

  get(scope: string, prompt: string): string[] | undefined {
    const found = this.#lru.get(scope + prompt);
    if (found) this.#hits += 1;
    else this.#misses += 1;
    return found;
  }

  /** Counts a prompt answered without a request of its own (an identical call's, in flight). */
  countHit(): void {
    this.#hits += 1;
  }

  set(scope: string, prompt: string, texts: string[]): void {
    this.#lru.set(scope + prompt, texts);
  }

  clear(): void {
    this.#lru.clear();
    this.#hits = 0;
    this.#misses = 0;
  }

  stats(enabled: boolean): CacheStats {
    const lookups = this.#hits + this.#misses;
    return { cache_size: this.#lru.size, hits: this.#hits, misses: this.#misses, hit_rate: lookups === 0 ? 0 : this.#hits / lookups, enabled };
  }
}
