import { describe, expect, it } from "vitest";
import { readServerSentEvents, type ServerSentEvent } from "../../src/internal/sse-events.js";

async function read(chunks: string[]): Promise<ServerSentEvent[]> {
  async function* source() {
    yield* chunks;
  }
  const events: ServerSentEvent[] = [];
  for await (const event of readServerSentEvents(source())) events.push(event);
  return events;
}

/** Every way of cutting `text` into two chunks gives the same events as the whole text. */
async function readAtEverySplit(text: string): Promise<ServerSentEvent[]> {
  const whole = await read([text]);
  for (let i = 1; i < text.length; i++) expect(await read([text.slice(0, i), text.slice(i)])).toEqual(whole);
  return whole;
}

describe("the event-stream reader", () => {
  it("dispatches on a blank line, with the type it was given or message", async () => {
    expect(await readAtEverySplit('data: {"a":1}\n\nevent: error\ndata: {"b":2}\n\n')).toEqual([
      { event: "message", data: '{"a":1}' },
      { event: "error", data: '{"b":2}' },
    ]);
  });

  it("ends lines at CRLF, LF or CR, also when a chunk boundary splits a CRLF", async () => {
    const expected = [
      { event: "message", data: "one" },
      { event: "message", data: "two" },
      { event: "message", data: "three" },
    ];
    expect(await readAtEverySplit("data: one\r\n\r\ndata: two\n\ndata: three\r\r")).toEqual(expected);
    expect(await read(["data: one\r", "\n\r", "\n"])).toEqual([{ event: "message", data: "one" }]);
  });

  it("joins data lines with a newline, strips one space after the colon, skips comments and unknown fields", async () => {
    expect(await readAtEverySplit(": keep-alive\ndata:a\ndata:  b\nid: 7\nretry: 10\nfoo: bar\ndata\n\n")).toEqual([{ event: "message", data: "a\n b\n" }]);
  });

  it("drops a leading BOM, dispatches nothing for an event without data and discards a cut-off event", async () => {
    expect(await read(["\uFEFFdata: x\n\n", "event: ping\n\n", "data: cut"])).toEqual([{ event: "message", data: "x" }]);
    // The type of an event without data does not leak into the next one.
    expect(await read(["event: ping\n\ndata: y\n\n"])).toEqual([{ event: "message", data: "y" }]);
  });
});
