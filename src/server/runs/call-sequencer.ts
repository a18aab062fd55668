import { ApiError, validationError } from "../http/api-error.js";
import type { RunRecord } from "../store/run-record.js";

/** How pipelined calls are held. */
export const SEQUENCE_DEFAULTS = {
  /** Longest a call waits for a missing predecessor before it goes ahead. @default 30 s */
  holdMs: 30_000,
  /** Clients whose next position a run's record keeps (the most recent). @default 64 */
  maxClientsPerRun: 64,
} as const;

/** A call's place in one client's sequence, from the `Signal-Sequence` header. */
export interface SequencePosition {
  client: string;
  position: number;
}

/** How a call ended, for its successors: applied or refused for good, or worth a retry. */
export type Outcome = "settled" | "retryable";

/** A call's turn; `settle` must be called exactly once when its outcome is known. */
export interface Turn {
  readonly sequence: SequencePosition | undefined;
  settle(outcome: Outcome): void;
}

const HEADER = /^([A-Za-z0-9_-]{8,64}):([0-9]{1,15})$/;
const NO_TURN: Turn = { sequence: undefined, settle: () => {} };

/**
 * The `Signal-Sequence` header of a request, if any.
 * @throws ApiError 400 naming `Signal-Sequence` when it is malformed.
 */
export function parseSequence(header: string | string[] | undefined): SequencePosition | undefined {
  if (header === undefined) return undefined;
  const m = typeof header === "string" ? HEADER.exec(header) : null;
  if (!m) throw validationError("Signal-Sequence: must be <client_id>:<position>, client_id 8-64 characters of A-Z a-z 0-9 _ -, position an integer >= 0", "Signal-Sequence");
  return { client: m[1]!, position: Number(m[2]) };
}

/** Stores a client's next position in the run's header, committed with the change it settles. */
export function recordSequence(record: RunRecord, sequence: SequencePosition, now = Date.now()): void {
  const kept = Object.entries(record.sequences ?? {})
    .filter(([client]) => client !== sequence.client)
    .sort(([, a], [, b]) => b.at - a.at)
    .slice(0, SEQUENCE_DEFAULTS.maxClientsPerRun - 1);
  record.sequences = Object.fromEntries([[sequence.client, { next: sequence.position + 1, at: now }], ...kept]);
}

interface ClientState {
  /** The position that may go next. */
  next: number;
  /** The position that has its turn and has not settled. */
  running: number | undefined;
  waiters: Map<number, () => void>;
  /** Positions ahead of `next` refused before their turn: skipped when `next` reaches them. */
  refused: Set<number>;
  touched: number;
}

/**
 * Applies each client's calls on a run in the order of their positions, whatever order they
 * arrive in. A call waits (at most `holdMs` while nothing of its client runs) until every
 * earlier position has settled: applied, or refused for good (a 4xx). A retryable failure (429,
 * 5xx) keeps its place, so its retry is applied before the calls after it. When the hold
 * expires the gap is given up: the waiting call goes ahead, and a predecessor arriving later is
 * refused with 409 `sequence_superseded`, so applied calls are always in call order.
 *
 * It sits in front of the run's queue: a call enters the queue only once its predecessor has
 * left it. Calls without the header, and calls of other clients, are not held.
 */
export class CallSequencer {
  readonly #clients = new Map<string, ClientState>();
  /** Requests that took their turn (so a refusal after it is not counted twice). */
  readonly #taken = new WeakSet<object>();

  constructor(private readonly holdMs: number = SEQUENCE_DEFAULTS.holdMs) {}

  /**
   * Waits for the call's turn. `run.sequences` holds the positions that were durable at the
   * last commit, so after a restart the order continues where it was.
   * @throws ApiError 409 `sequence_superseded` for a position already settled or given up;
   *   400 for a malformed header.
   */
  async turn(run: RunRecord, header: string | string[] | undefined, req?: object): Promise<Turn> {
    const sequence = parseSequence(header);
    if (!sequence) return NO_TURN;
    if (req) this.#taken.add(req);
    const key = `${run.run_id}\n${sequence.client}`;
    const state = this.#state(key, run.sequences?.[sequence.client]?.next ?? 0);
    const { position } = sequence;
    if (state.running === undefined) while (state.refused.delete(state.next)) state.next++;
    if (position < state.next || state.running === position || state.waiters.has(position)) {
      throw new ApiError(
        409,
        "conflict_error",
        "sequence_superseded",
        `Call ${position} of client ${sequence.client} was not applied: ${position < state.next ? "a later call of the same client was applied before it arrived" : "a call with the same position is already in progress"}. Send a new call.`,
        "Signal-Sequence",
      );
    }
    if (position > state.next) await this.#wait(state, position);
    state.running = position;
    state.touched = Date.now();
    let done = false;
    return {
      sequence,
      settle: (outcome) => {
        if (done) return;
        done = true;
        state.running = undefined;
        state.touched = Date.now();
        if (outcome === "settled") state.next = Math.max(state.next, position + 1);
        this.#wake(state);
        this.#prune();
      },
    };
  }

  /**
   * Settles the position of a call refused before it took its turn (e.g. a 400 for its body),
   * unless the refusal is retryable: the client will send it again.
   */
  refused(run: RunRecord, header: string | string[] | undefined, req: object, error: unknown): void {
    if (this.#taken.has(req) || isRetryable(error)) return;
    let sequence: SequencePosition | undefined;
    try {
      sequence = parseSequence(header);
    } catch {
      return;
    }
    if (!sequence) return;
    const state = this.#state(`${run.run_id}\n${sequence.client}`, run.sequences?.[sequence.client]?.next ?? 0);
    if (sequence.position < state.next || state.running === sequence.position) return;
    state.refused.add(sequence.position);
    this.#wake(state);
  }

  #state(key: string, durableNext: number): ClientState {
    let state = this.#clients.get(key);
    if (!state) {
      state = { next: durableNext, running: undefined, waiters: new Map(), refused: new Set(), touched: Date.now() };
      this.#clients.set(key, state);
    }
    return state;
  }

  #wait(state: ClientState, position: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout;
      const go = () => {
        clearTimeout(timer);
        state.waiters.delete(position);
        resolve();
      };
      const expire = () => {
        // A predecessor still running will settle; only a gap with nothing running is given up.
        if (state.running !== undefined) {
          timer = setTimeout(expire, this.holdMs);
          return;
        }
        state.next = Math.max(state.next, position);
        go();
      };
      timer = setTimeout(expire, this.holdMs);
      state.waiters.set(position, go);
    });
  }

  #wake(state: ClientState): void {
    if (state.running !== undefined) return;
    while (state.refused.delete(state.next)) state.next++;
    for (const p of state.refused) if (p < state.next) state.refused.delete(p);
    state.waiters.get(state.next)?.();
  }

  /** Forgets clients idle for an hour (their next position stays in the run's record). */
  #prune(): void {
    if (this.#clients.size < 1024) return;
    const cutoff = Date.now() - 60 * 60 * 1000;
    for (const [key, s] of this.#clients) if (s.touched < cutoff && s.running === undefined && s.waiters.size === 0) this.#clients.delete(key);
  }
}

/** Whether an error leaves a call worth retrying (so it keeps its place in its client's sequence). */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return true;
  return error.status === 429 || error.status >= 500 || error.code === "conflict_retryable";
}
