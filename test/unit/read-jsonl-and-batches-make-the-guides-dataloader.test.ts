import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Example, SignalError, ValidationError, batches, readJsonl } from "../../src/index.js";
import { readJsonl as readJsonlFromNode } from "../../src/node/index.js";

const FILE = '{"prompt":"Q: 1+1?\\nA:","completion":" 2"}\n\n{"text":"héllo wörld"}\r\n{"tokens":[1,2,3]}';
const EXPECTED = [{ prompt: "Q: 1+1?\nA:", completion: " 2" }, { text: "héllo wörld" }, { tokens: [1, 2, 3] }];

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The file's bytes cut into 1-byte chunks: lines and multi-byte characters span chunks. */
function byteStream(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at < bytes.length) controller.enqueue(bytes.slice(at, ++at));
      else controller.close();
    },
  });
}

describe("readJsonl", () => {
  it("reads a Response, a Blob, a byte stream split anywhere and an array of chunks alike, skipping blank lines", async () => {
    expect(await all(readJsonl(new Response(FILE)))).toEqual(EXPECTED);
    expect(await all(readJsonl(new Blob([FILE])))).toEqual(EXPECTED);
    expect(await all(readJsonl(byteStream(FILE)))).toEqual(EXPECTED);
    expect(await all(readJsonl([FILE.slice(0, 7), FILE.slice(7)]))).toEqual(EXPECTED);
  });

  it("reads a path from frontier-signal/node (the client entry has no file system)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jsonl-"));
    writeFileSync(join(dir, "data.jsonl"), FILE);
    expect(await all(readJsonlFromNode(join(dir, "data.jsonl")))).toEqual(EXPECTED);
    await expect(all(readJsonlFromNode(join(dir, "missing.jsonl")))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(all(readJsonl("data.jsonl" as never))).rejects.toThrow(/frontier-signal\/node/);
  });

  it("a bad line is a ValidationError naming its line number (and the field)", async () => {
    const notJson = await all(readJsonl(new Response('{"text":"a"}\n{"text": oops}\n'))).catch((e: unknown) => e);
    expect(notJson).toBeInstanceOf(ValidationError);
    expect((notJson as Error).message).toMatch(/^readJsonl: line 2: not JSON/);
    const noCompletion = await all(readJsonl(new Response('{"text":"a"}\n\n{"prompt":"Q:"}\n'))).catch((e: unknown) => e);
    expect((noCompletion as Error).message).toMatch(/^readJsonl: line 3: completion: /);
    expect((noCompletion as ValidationError).path).toBe("line 3: completion");
  });
});

describe("batches", () => {
  const examples: Example[] = Array.from({ length: 10 }, (_, i) => ({ text: `t${i}` }));
  const texts = (batch: Example[]) => batch.map((e) => (e as { text: string }).text);

  it("cuts the examples into batchSize batches in order, the last one smaller unless dropLast; has a length", () => {
    const loader = batches(examples, { batchSize: 4 });
    expect(loader.length).toBe(3);
    expect([...loader].map((b) => b.length)).toEqual([4, 4, 2]);
    expect(texts([...loader][0]!)).toEqual(["t0", "t1", "t2", "t3"]);
    const dropped = batches(examples, { batchSize: 4, dropLast: true });
    expect(dropped.length).toBe(2);
    expect([...dropped].map((b) => b.length)).toEqual([4, 4]);
  });

  it("shuffles with a seed: the same orders for the same seed, a new order each pass, every example once", () => {
    const a = batches(examples, { batchSize: 3, shuffle: true, seed: 7 });
    const b = batches(examples, { batchSize: 3, shuffle: true, seed: 7 });
    const first = [...a].flatMap(texts);
    const second = [...a].flatMap(texts);
    expect([...first].sort()).toEqual(examples.map((e) => (e as { text: string }).text).sort());
    expect(second).not.toEqual(first);
    expect([...b].flatMap(texts)).toEqual(first);
    expect([...b].flatMap(texts)).toEqual(second);
    expect([...batches(examples, { batchSize: 3, shuffle: true, seed: 8 })].flatMap(texts)).not.toEqual(first);
  });

  it("reads an async source (readJsonl) once and serves every pass from it", async () => {
    let reads = 0;
    async function* source() {
      reads++;
      yield* examples;
    }
    const loader = batches(source(), { batchSize: 5 });
    expect((await all(loader)).length).toBe(2);
    expect((await all(loader)).flat()).toEqual(examples);
    expect(reads).toBe(1);
    expect((await all(batches(readJsonl(new Response(FILE)), { batchSize: 2 }))).map((b) => b.length)).toEqual([2, 1]);
  });

  it("a bad batchSize or seed is an error naming it", () => {
    expect(() => batches(examples, { batchSize: 0 })).toThrow(SignalError);
    expect(() => batches(examples, { batchSize: 2.5 })).toThrow(/batchSize must be a positive integer, got 2.5/);
    expect(() => batches(examples, { batchSize: 2, seed: 0.5 })).toThrow(/seed must be an integer/);
  });
});
