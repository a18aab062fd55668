import { createReadStream } from "node:fs";
import { type JsonlSource, readJsonl as readJsonlSource } from "../read-jsonl.js";
import type { TrainingExample as Example } from "../chat.js";

/**
 * `readJsonl` of the client entry, plus a file path (`string` or `file:` URL) read as a stream:
 * the examples of a JSONL file, in order; a line that is not JSON or not an example is a
 * `ValidationError` naming its line number. Kept here so the client entry never loads `node:fs`.
 *
 * @example
 * import { batches } from "frontier-signal";
 * import { readJsonl } from "frontier-signal/node";
 * await training.trainEpoch(batches(readJsonl("facts.jsonl"), { batchSize: 8, shuffle: true, seed: 0 }));
 * @throws ValidationError for a bad line; the file-system error (ENOENT, ...) when the file cannot be read.
 */
export function readJsonl(source: string | URL | JsonlSource): AsyncGenerator<Example, void, undefined> {
  if (typeof source === "string" || source instanceof URL) return readJsonlSource(createReadStream(source) as AsyncIterable<Uint8Array>);
  return readJsonlSource(source);
}
