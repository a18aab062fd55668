import { connect } from "node:net";

/** What came back on a raw connection. */
export interface RawAnswer {
  /** The status of the first response, or undefined when the server closed without one. */
  status: number | undefined;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (rather than the client timing out). */
  closed: boolean;
  /** Bytes of `stream` the client managed to write before the server stopped reading. */
  written: number;
}

/**
 * Writes `head` (request line and headers, verbatim, CR/LF included) on a fresh TCP connection,
 * then optionally `stream` chunks until they run out or the server closes; reads until the
 * server closes or `waitMs` passes. fetch refuses malformed headers, a socket does not.
 */
export function rawRequest(url: string, head: string | Buffer, options: { stream?: Iterable<Buffer>; waitMs?: number } = {}): Promise<RawAnswer> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const received: Buffer[] = [];
    let closed = false;
    let written = 0;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...parse(Buffer.concat(received).toString("latin1")), closed, written });
    };
    const timer = setTimeout(finish, options.waitMs ?? 2_000);
    socket.on("data", (chunk) => received.push(chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.write(head, async () => {
      if (!options.stream) return;
      for (const chunk of options.stream) {
        if (socket.destroyed || closed) return;
        const ok = socket.write(chunk);
        written += chunk.length;
        // Back-pressure: wait until the server reads more (or never, when it has stopped reading).
        if (!ok) await new Promise<void>((r) => socket.once("drain", r).once("close", r));
      }
    });
  });
}

function parse(text: string): Pick<RawAnswer, "status" | "headers" | "body"> {
  const end = text.indexOf("\r\n\r\n");
  if (!text.startsWith("HTTP/1.1 ") || end < 0) return { status: undefined, headers: {}, body: text };
  const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  const length = headers["content-length"];
  if (length !== undefined) body = body.slice(0, Number(length));
  return { status: Number(statusLine!.split(" ")[1]), headers, body };
}
