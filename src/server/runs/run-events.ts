import { randomBytes } from "node:crypto";
import type { components } from "../../../generated/schema.js";

/** One event of `watchRun`, as the spec has it. */
export type RunEvent = components["schemas"]["RunEvent"];

/** An event with its position: `seq` counts every event this process published, over all runs. */
export interface SequencedEvent {
  /** The SSE `id`: `<boot>.<seq>`, so an id from another process is never mistaken for one of this. */
  id: string;
  seq: number;
  event: RunEvent;
}

/** The bounds of the events a run keeps for clients that reconnect. */
const RUN_EVENT_DEFAULTS = {
  /** Newest events kept per run; a client that missed more gets a resync. @default 1024 */
  keepPerRun: 1024,
} as const;

interface RunLog {
  buffer: SequencedEvent[];
  /** The `seq` of the newest event dropped from `buffer` (0 when none was). */
  droppedUpTo: number;
  listeners: Set<(event: SequencedEvent) => void>;
}

/**
 * The live events of every run (step applied, checkpoint saved or deleted, run updated or
 * deleted), published by the handlers after the change is durable, and the last
 * `keepPerRun` of each run, so a client that lost its connection can resume after the last
 * event it read (`Last-Event-ID`). Kept in memory only: after a restart every resume is a resync.
 */
export class RunEvents {
  readonly #boot = randomBytes(4).toString("hex");
  readonly #runs = new Map<string, RunLog>();
  readonly #keep: number;
  #seq = 0;

  constructor(keepPerRun: number = RUN_EVENT_DEFAULTS.keepPerRun) {
    this.#keep = keepPerRun;
  }

  /** The id of the newest event published (of any run): a resume from it misses nothing after now. */
  get currentId(): string {
    return `${this.#boot}.${this.#seq}`;
  }

  /** Publishes an event of `event.run_id` to its listeners; `run.deleted` also forgets the run's log. */
  publish(event: RunEvent): void {
    const seq = ++this.#seq;
    const sequenced: SequencedEvent = { id: `${this.#boot}.${seq}`, seq, event };
    const log = this.#log(event.run_id);
    log.buffer.push(sequenced);
    if (log.buffer.length > this.#keep) log.droppedUpTo = log.buffer.shift()!.seq;
    for (const listener of [...log.listeners]) listener(sequenced);
    if (event.type === "run.deleted") this.#runs.delete(event.run_id);
  }

  /** Calls `listener` with every event of `runId` published from now on. @returns unsubscribe. */
  subscribe(runId: string, listener: (event: SequencedEvent) => void): () => void {
    const log = this.#log(runId);
    log.listeners.add(listener);
    return () => {
      log.listeners.delete(listener);
      if (log.listeners.size === 0 && log.buffer.length === 0) this.#runs.delete(runId);
    };
  }

  /**
   * The events of `runId` after the one whose id is `lastEventId`, oldest first; `undefined`
   * when they cannot all be given (an id of another process or a malformed one, or events
   * dropped since), so the caller must resync.
   */
  since(runId: string, lastEventId: string): SequencedEvent[] | undefined {
    const match = /^([0-9a-f]{8})\.(\d{1,15})$/.exec(lastEventId);
    if (!match || match[1] !== this.#boot) return undefined;
    const after = Number(match[2]);
    if (after > this.#seq) return undefined;
    const log = this.#runs.get(runId);
    if (!log) return [];
    if (after < log.droppedUpTo) return undefined;
    return log.buffer.filter((e) => e.seq > after);
  }

  #log(runId: string): RunLog {
    let log = this.#runs.get(runId);
    if (!log) {
      log = { buffer: [], droppedUpTo: 0, listeners: new Set() };
      this.#runs.set(runId, log);
    }
    return log;
  }
}
