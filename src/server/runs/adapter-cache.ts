import type { Engine, RunConfig } from "../engine/types.js";

/** How many checkpoint adapters stay registered with the engine. */
const ADAPTER_CACHE_DEFAULTS = {
  /** Least recently used adapters beyond this are unloaded. @default 8 */
  maxEntries: 8,
} as const;

/**
 * The checkpoint adapters registered with the engine for sampling and embeddings, keyed
 * `${run_id}@${step}#${created_at}` so a checkpoint saved again at the same step is a new entry.
 * Loads are shared between concurrent callers; a failed load is forgotten so the next call retries.
 */
export class AdapterCache {
  readonly #entries = new Map<string, Promise<void>>();

  constructor(
    private readonly engine: Engine,
    private readonly maxEntries: number = ADAPTER_CACHE_DEFAULTS.maxEntries,
  ) {}

  /** Registers the adapter under `key` unless it is already, and marks it recently used. */
  async ensure(key: string, config: RunConfig, read: () => Promise<Uint8Array>): Promise<void> {
    let entry = this.#entries.get(key);
    if (entry) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    } else {
      entry = read().then((bytes) => this.engine.loadAdapter(key, config, bytes));
      this.#entries.set(key, entry);
      entry.catch(() => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      });
      this.#evict();
    }
    await entry;
  }

  /** Unloads every adapter whose key starts with `prefix` (a run's or a checkpoint's). */
  async drop(prefix: string): Promise<void> {
    const keys = [...this.#entries.keys()].filter((k) => k.startsWith(prefix));
    await Promise.all(keys.map((k) => this.#unload(k)));
  }

  #evict(): void {
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      void this.#unload(oldest);
    }
  }

  async #unload(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    this.#entries.delete(key);
    // Wait for a load in progress so the unload is not overtaken by it.
    await entry?.catch(() => undefined);
    await this.engine.unloadAdapter(key).catch(() => undefined);
  }
}
