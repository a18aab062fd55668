import type { Handler } from "../context.js";
import { ownedRun } from "../runs/run-access.js";
import type { SequencedEvent } from "../runs/run-events.js";
import { toRun } from "../store/run-record.js";

/** Knobs of the event stream. */
const STREAM = {
  /** A comment line this often keeps proxies and idle timers from closing a quiet stream. */
  pingMs: 15_000,
  /** The reconnect delay advised to clients (`retry:`). */
  retryMs: 1_000,
  /** A client this far behind (bytes not yet taken by its socket) is cut off; it resumes with Last-Event-ID. */
  maxBufferedBytes: 1024 * 1024,
} as const;

/**
 * watchRun: the run's events as `text/event-stream`, live until the run is deleted or the client
 * leaves. With `Last-Event-ID` the missed events come first (or a `run.updated` with
 * `resync: true` when they are gone); without it the first event is `run.updated` with the run now.
 * @throws ApiError 404 `run_not_found` (before the stream opens).
 */
export const watchRun: Handler<"watchRun"> = async (ctx) => {
  const runId = ctx.path.run_id;
  const run = ownedRun(ctx, runId);
  const { events } = ctx.services;
  const { res } = ctx;
  const header = ctx.req.headers["last-event-id"];
  const lastEventId = typeof header === "string" && header.length <= 128 ? header : undefined;

  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
  });
  res.write(`retry: ${STREAM.retryMs}\n\n`);

  let finished = false;
  let stop = () => {};
  const ended = new Promise<void>((resolve) => {
    stop = () => {
      if (finished) return;
      finished = true;
      unsubscribe();
      clearInterval(ping);
      if (!res.writableEnded) res.end();
      resolve();
    };
  });
  const send = (e: SequencedEvent) => {
    if (finished || res.destroyed) return;
    res.write(`id: ${e.id}\nevent: ${e.event.type}\ndata: ${JSON.stringify(e.event)}\n\n`);
    if (e.event.type === "run.deleted") stop();
    else if (res.writableLength > STREAM.maxBufferedBytes) res.destroy();
  };
  // Subscribed before the replay is read: both happen in this tick, so no event falls between.
  const unsubscribe = events.subscribe(runId, send);
  const ping = setInterval(() => {
    if (!res.destroyed) res.write(": ping\n\n");
  }, STREAM.pingMs);
  ping.unref();
  res.once("close", stop);

  const missed = lastEventId === undefined ? undefined : events.since(runId, lastEventId);
  if (missed) for (const e of missed) send(e);
  else {
    send({
      id: events.currentId,
      seq: 0,
      event: { type: "run.updated", run_id: runId, run: toRun(run), ...(lastEventId !== undefined ? { resync: true } : {}) },
    });
  }
  await ended;
  return { kind: "streamed" };
};
