/**
 * A least-recently-used map bounded by entry count: a `Map` keeps insertion order, so moving an
 * entry to the end on every read makes the first key the one to evict. All the sample cache
 * needs, in a few hundred bytes instead of a general cache library in every client bundle.
 */
export class Lru<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

  /** @throws RangeError when `max` is not a positive integer. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${String(max)}`);
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  /** The value of `key`, which becomes the most recently used. */
  get(key: K): V | undefined {
    if (!this.#map.has(key)) return undefined;
    const value = this.#map.get(key) as V;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** Stores `value` as the most recently used, evicting the least recently used past `max`. */
  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K);
  }

  clear(): void {
    this.#map.clear();
  }
}
