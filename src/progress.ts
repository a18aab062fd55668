/** Where progress text goes: anything with `write`, such as Node's `process.stderr`. */
export interface ProgressStream {
  write(text: string): unknown;
  /** A bar is drawn only when this is true; otherwise plain lines are written. */
  isTTY?: boolean | undefined;
}

/** Where and how often `trainEpoch` reports. */
export interface ProgressOptions {
  /** @default `process.stderr` where the runtime has one (Node, Bun, Deno); elsewhere (a browser) no output */
  stream?: ProgressStream | undefined;
  /** Off a TTY, write a line every this many steps (and after the last). @default 10 */
  every?: number | undefined;
}

/** One step as the reporter sees it. */
interface ProgressUpdate {
  steps: number;
  step: number;
  loss: number;
  avg_loss: number;
  num_tokens: number;
  elapsed_ms: number;
}

export interface ProgressReporter {
  update(update: ProgressUpdate): void;
  stop(): void;
}

const silent: ProgressReporter = { update() {}, stop() {} };

/**
 * A bar (cli-progress) on a TTY — step, loss, running average, tokens/s and, when the number of
 * batches is known, ETA. Off a TTY (a log file, CI, a pipe): nothing unless asked (`true` or
 * options), then plain periodic lines. Nothing for `false`, nor when no stream is given and the
 * runtime has no `process.stderr` (a browser).
 */
export async function createProgress(progress: boolean | ProgressOptions | undefined, total: number | undefined): Promise<ProgressReporter> {
  if (progress === false) return silent;
  const options = typeof progress === "object" ? progress : {};
  const stream = options.stream ?? defaultStream();
  if (!stream) return silent;
  const lines = () => lineReporter(stream, total, options.every ?? 10);
  if (stream.isTTY === true) return (await barReporter(stream, total)) ?? lines();
  return progress === undefined ? silent : lines();
}

function defaultStream(): ProgressStream | undefined {
  return (globalThis as { process?: { stderr?: ProgressStream } }).process?.stderr;
}

/**
 * The terminal bar library, loaded on first use and only where it can run. The specifier is not
 * a literal so that bundlers leave it out of a client bundle: cli-progress needs Node's
 * `events` and `readline`, which a browser build cannot resolve. A bundled Node app without it
 * in node_modules gets plain lines instead of a bar.
 */
async function loadBarLibrary(): Promise<typeof import("cli-progress") | undefined> {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (typeof proc?.versions?.node !== "string") return undefined;
  const specifier = "cli-progress";
  try {
    const loaded = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as { default: typeof import("cli-progress") };
    return loaded.default;
  } catch {
    return undefined;
  }
}

function rate(update: ProgressUpdate): number {
  return update.elapsed_ms > 0 ? Math.round((update.num_tokens * 1000) / update.elapsed_ms) : 0;
}

async function barReporter(stream: ProgressStream, total: number | undefined): Promise<ProgressReporter | undefined> {
  const cliProgress = await loadBarLibrary();
  if (!cliProgress) return undefined;
  const known = total !== undefined;
  const format = known
    ? "train |{bar}| {value}/{total} | step {step} | loss {loss} | avg {avg} | {tps} tok/s | ETA {eta_formatted}"
    : "train {value} batches | step {step} | loss {loss} | avg {avg} | {tps} tok/s";
  const bar = new cliProgress.SingleBar(
    { format, stream: stream as NodeJS.WritableStream, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0, { step: "-", loss: "-", avg: "-", tps: 0 });
  return {
    update(update) {
      bar.update(update.steps, { step: update.step, loss: update.loss.toFixed(4), avg: update.avg_loss.toFixed(4), tps: rate(update) });
    },
    stop() {
      bar.stop();
    },
  };
}

function lineReporter(stream: ProgressStream, total: number | undefined, every: number): ProgressReporter {
  let last: ProgressUpdate | undefined;
  let lastWritten = 0;
  const write = (update: ProgressUpdate) => {
    const of = total === undefined ? "" : `/${total}`;
    const eta = total === undefined || update.steps === 0 ? "" : ` eta ${Math.round(((total - update.steps) * update.elapsed_ms) / update.steps / 1000)}s`;
    stream.write(
      `train ${update.steps}${of} step ${update.step} loss ${update.loss.toFixed(4)} avg ${update.avg_loss.toFixed(4)} ${rate(update)} tok/s${eta}\n`,
    );
    lastWritten = update.steps;
  };
  return {
    update(update) {
      last = update;
      if (update.steps % every === 0) write(update);
    },
    stop() {
      if (last && lastWritten !== last.steps) write(last);
    },
  };
}
