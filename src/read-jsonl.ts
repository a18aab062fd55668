import type * as z from "zod/mini";
import type { TrainingExample as Example } from "./chat.js";
import { zExample } from "../generated/zod/zod.gen.js";
import { ValidationError } from "./errors.js";
import { checkAgainst, summarizeIssues } from "./internal/validate.js";

/**
 * Where `readJsonl` reads from: a fetch `Response`, a `Blob` (a `File` from an `<input>`), a byte
 * stream, an async iterable of byte or text chunks (a Node stream), or an array of chunks. A file path is read by the
 * `readJsonl` of `frontier-signal/node`, which takes all of these too.
 */
export type JsonlSource = Response | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string> | readonly (Uint8Array | string)[];

/**
 * The examples of a JSONL file, one JSON object per line (`{ prompt, completion }`, `{ text }` or
 * `{ tokens, ... }`), in file order, as they arrive; blank lines are skipped. Each line is checked
 * against the spec's `Example` before it is yielded.
 *
 * @example
 * const examples = readJsonl(await fetch("/data/facts.jsonl"));
 * for await (const batch of batches(examples, { batchSize: 8, shuffle: true, seed: 0 })) await run.trainBatch(batch);
 * @throws ValidationError naming the line (1-based) of a line that is not JSON or not an example,
 *   e.g. `readJsonl: line 3: completion: Invalid input: expected string, received undefined`.
 */
export async function* readJsonl(source: JsonlSource): AsyncGenerator<Example, void, undefined> {
  for await (const { line, value } of jsonLines(source, "readJsonl")) {
    checkLine(zExample, value, "readJsonl", line);
    yield value as Example;
  }
}

/** Checks a line's value against a generated schema. @throws ValidationError `<label>: line N: <field>: <problem>`. */
export function checkLine(schema: z.core.$ZodType, value: unknown, label: string, line: number): void {
  const checked = checkAgainst(schema, value);
  if (!checked.ok) throw jsonlLineError(label, line, summarizeIssues(checked.issues), checked.issues[0]?.path ?? "");
}

/**
 * The JSON value of each non-blank line of a JSONL source, with its 1-based line number.
 * @throws ValidationError `<label>: line N: not JSON (...)`.
 */
export async function* jsonLines(source: JsonlSource, label: string): AsyncGenerator<{ line: number; value: unknown }, void, undefined> {
  let line = 0;
  for await (const text of lines(source, label)) {
    line++;
    if (text.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw jsonlLineError(label, line, `not JSON (${(error as Error).message})`, "");
    }
    yield { line, value };
  }
}

/** `<label>: line N: <detail>`, its issue's path `line N: <field>`. */
export function jsonlLineError(label: string, line: number, detail: string, field: string): ValidationError {
  return new ValidationError(`${label}: line ${line}: ${detail}`, [{ path: field === "" ? `line ${line}` : `line ${line}: ${field}`, message: detail }]);
}

/** The text of each line (without its `\n` or `\r\n`), decoded as UTF-8 across chunk boundaries. */
async function* lines(source: JsonlSource, label: string): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of chunks(source, label)) {
    rest += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let end = rest.indexOf("\n");
    while (end >= 0) {
      yield rest.slice(0, end).replace(/\r$/, "");
      rest = rest.slice(end + 1);
      end = rest.indexOf("\n");
    }
  }
  rest += decoder.decode();
  if (rest !== "") yield rest.replace(/\r$/, "");
}

async function* chunks(source: JsonlSource, label: string): AsyncGenerator<Uint8Array | string> {
  if (typeof Response !== "undefined" && source instanceof Response) {
    if (!source.ok) throw new ValidationError(`${label}: the response is ${source.status}, not a file`, [{ path: "", message: `status ${source.status}` }]);
    if (source.body) yield* streamChunks(source.body);
    return;
  }
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    yield* streamChunks(source.stream() as ReadableStream<Uint8Array>);
    return;
  }
  if (typeof ReadableStream !== "undefined" && source instanceof ReadableStream) {
    yield* streamChunks(source);
    return;
  }
  if (typeof source === "object" && source !== null && (Symbol.asyncIterator in source || Symbol.iterator in source)) {
    yield* source as AsyncIterable<Uint8Array | string>;
    return;
  }
  throw new ValidationError(
    `${label}: the source must be a Response, a Blob, a byte stream or an iterable of chunks (a file path: ${label} of frontier-signal/node)`,
    [{ path: "", message: "not a source" }],
  );
}

/** A ReadableStream read with a reader (Safari's streams are not async-iterable). */
async function* streamChunks(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
