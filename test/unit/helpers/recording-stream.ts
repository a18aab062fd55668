import { Writable } from "node:stream";

/**
 * A writable that keeps what it is sent, for progress output. As a terminal (`tty: true`) it
 * also answers the cursor calls a progress bar makes.
 */
export function recordingStream(options: { tty: boolean }) {
  let text = "";
  const terminal = {
    isTTY: true,
    columns: 160,
    cursorTo: (_x: number, _y?: number, cb?: () => void) => {
      cb?.();
      return true;
    },
    clearLine: (_dir: number, cb?: () => void) => {
      cb?.();
      return true;
    },
    moveCursor: () => true,
  };
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk);
        done();
      },
    }),
    options.tty ? terminal : { isTTY: false },
  );
  return { stream, text: () => text };
}
