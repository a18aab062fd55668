
/** Where and how often `trainEpoch` reports. */
export interface ProgressOptions {
  /** @default process.stderr */
  stream?: NodeJS.WritableStream & { isTTY?: boolean | undefined };
  /** Off a TTY, write a line every this many steps (and after the last). @default 10 */
  every?: number;
}

/** One step as the reporter sees it. */
export interface ProgressUpdate {
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
 * batches is known, ETA — and plain periodic lines elsewhere; nothing for `false`.
 */
export async function createProgress(progress: boolean | ProgressOptions | undefined, total: number | undefined): Promise<ProgressReporter> {
  if (progress === false) return silent;
  const options = typeof progress === "object" ? progress : {};
  const stream = options.stream ?? process.stderr;
  return stream.isTTY === true ? barReporter(stream, total) : lineReporter(stream, total, options.every ?? 10);
}

function rate(update: ProgressUpdate): number {
  return update.elapsed_ms > 0 ? Math.round((update.num_tokens * 1000) / update.elapsed_ms) : 0;
}

async function barReporter(stream: NodeJS.WritableStream, total: number | undefined): Promise<ProgressReporter> {
  // Loaded on first use: most programs never draw a bar, and importing the SDK stays cheaper.
  const { default: cliProgress } = await import("cli-progress");
  const known = total !== undefined;
  const format = known
    ? "train |{bar}| {value}/{total} | step {step} | loss {loss} | avg {avg} | {tps} tok/s | ETA {eta_formatted}"
    : "train {value} batches | step {step} | loss {loss} | avg {avg} | {tps} tok/s";
  const bar = new cliProgress.SingleBar({ format, stream, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
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

function lineReporter(stream: NodeJS.WritableStream, total: number | undefined, every: number): ProgressReporter {
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
