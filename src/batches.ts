import { SignalError } from "./errors.js";

/** Options of `batches`. */
export interface BatchesOptions {
  /** Examples per batch, a positive integer. */
  batchSize: number;
  /** Shuffle the examples, anew on every pass (epoch). @default false */
  shuffle?: boolean | undefined;
  /** Seed of the shuffle: the same seed gives the same order in every process. @default a random one */
  seed?: number | undefined;
  /** Leave out a last batch smaller than `batchSize`. @default false */
  dropLast?: boolean | undefined;
}

/** Batches of an array or other (sync) iterable: iterable again for every epoch, with a `length` (for `trainEpoch`'s ETA). */
export interface Batches<T> extends Iterable<T[]> {
  /** Batches per pass. */
  readonly length: number;
}

/**
 * The guide's `dataloader`: the examples in batches of `batchSize`, optionally shuffled with a
 * seed, for `trainEpoch` or a `for` loop. Every pass (`for ... of`, each `trainEpoch`) reads the
 * examples again; with `shuffle` each pass has its own order, and the sequence of orders is the
 * same for the same `seed`. An async source (`readJsonl(...)`) is read once, on the first pass,
 * and kept in memory for the next ones.
 *
 * @example
 * const dataloader = batches(readJsonl(await fetch("/facts.jsonl")), { batchSize: 8, shuffle: true, seed: 0 });
 * await training.trainEpoch(dataloader);
 * @throws SignalError for a `batchSize` that is not a positive integer or a `seed` that is not an integer.
 */
export function batches<T>(examples: Iterable<T>, options: BatchesOptions): Batches<T>;
export function batches<T>(examples: AsyncIterable<T>, options: BatchesOptions): AsyncIterable<T[]>;
export function batches<T>(examples: Iterable<T> | AsyncIterable<T>, options: BatchesOptions): Batches<T> | AsyncIterable<T[]> {
  const { batchSize, shuffle = false, dropLast = false } = checkOptions(options);
  const random = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const pass = function* (items: readonly T[]): Generator<T[]> {
    const order = shuffle ? shuffled(items, random) : items;
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.slice(start, start + batchSize);
      if (dropLast && batch.length < batchSize) return;
      yield batch;
    }
  };
  if (Symbol.asyncIterator in examples) {
    let read: Promise<T[]> | undefined;
    return {
      async *[Symbol.asyncIterator]() {
        read ??= (async () => {
          const all: T[] = [];
          for await (const item of examples) all.push(item);
          return all;
        })();
        yield* pass(await read);
      },
    };
  }
  const items = [...examples];
  const count = dropLast ? Math.floor(items.length / batchSize) : Math.ceil(items.length / batchSize);
  return { length: count, [Symbol.iterator]: () => pass(items) };
}

function checkOptions(options: BatchesOptions): BatchesOptions {
  if (typeof options !== "object" || options === null) throw new SignalError("batches: options { batchSize } are required.");
  if (!(Number.isInteger(options.batchSize) && options.batchSize >= 1)) {
    throw new SignalError(`batches: batchSize must be a positive integer, got ${String(options.batchSize)}.`);
  }
  if (options.seed !== undefined && !Number.isInteger(options.seed)) throw new SignalError(`batches: seed must be an integer, got ${String(options.seed)}.`);
  return options;
}

/** Fisher–Yates over a copy. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Mulberry32: a small deterministic PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
