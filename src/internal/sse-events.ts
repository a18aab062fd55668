/** One dispatched `text/event-stream` event: its type (`message` when none was given) and data. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/**
 * Reads `text/event-stream` events from decoded text chunks, as the HTML standard's
 * event-stream interpretation does: lines end with CRLF, LF or CR (also when a chunk boundary
 * splits a CRLF), a leading BOM is dropped, `:` lines are comments, one space after the colon is
 * stripped, `data` lines join with `\n`, and a blank line dispatches the event (none when it has
 * no data). An event cut off by the end of the stream is discarded. `id` and `retry` are not
 * needed by a one-shot request; a reader that reconnects passes `state`, which the reader keeps
 * as the standard's event source does: `lastEventId` is set when an event is dispatched (from
 * the last `id` line, one without a NUL), `retry` from a `retry` line of digits only.
 */
export async function* readServerSentEvents(
  chunks: AsyncIterable<string>,
  state: { lastEventId?: string; retry?: number } = {},
): AsyncGenerator<ServerSentEvent, void, undefined> {
  let idBuffer = state.lastEventId;
  let buffer = "";
  let first = true;
  let skipLF = false;
  let event = "";
  let data: string[] = [];
  for await (let text of chunks) {
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    if (skipLF && text.startsWith("\n")) text = text.slice(1);
    skipLF = false;
    buffer += text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = buffer.slice(start, i);
      if (c === 13) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 10) i++;
        } else skipLF = true;
      }
      start = i + 1;
      if (line === "") {
        if (idBuffer !== undefined) state.lastEventId = idBuffer;
        if (data.length > 0) yield { event: event || "message", data: data.join("\n") };
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id" && !value.includes("\0")) idBuffer = value;
      else if (field === "retry" && /^\d+$/.test(value)) state.retry = Number(value);
    }
    buffer = buffer.slice(start);
  }
}
