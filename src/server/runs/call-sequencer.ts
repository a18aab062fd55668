import { ApiError, type ErrorType, validationError } from "../wire/api-error.js";
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

/**
 * How a call ended, for its successors: `applied`; `failed` for good (a 4xx), which breaks its
 * client's sequence; or `retryable` (429, 5xx), which keeps its place for the retry.
 */
type Outcome = "applied" | "failed" | "retryable";

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
function parseSequence(header: string | string[] | undefined): SequencePosition | undefined {
  if (header === undefined) return undefined;
  const m = typeof header === "string" ? HEADER.exec(header) : null;
  if (!m)
    throw validationError(
      "Signal-Sequence: must be <client_id>:<position>, client_id 8-64 characters of A-Z a-z 0-9 _ -, position an integer >= 0",
      "Signal-Sequence",
    );
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
  /** Held calls by position: `go()` gives the turn, `go(true)` refuses the call. */
  waiters: Map<number, (refuse?: boolean) => void>;
  /** Set when a call failed for good (or never came): every later position is refused. */
  broken: { after: number; why: string } | undefined;
  touched: number;
}

/**
 * Applies each client's calls on a run in the order of their positions, whatever order they
 * arrive in, and never applies a call after one of its predecessors failed:
 * - A call waits until every earlier position has been applied (at most `holdMs` while nothing
 *   of its client runs).
 * - A retryable failure (429, 5xx) keeps its place, so its retry is applied before the calls
 *   after it.
 * - A call that fails for good (a 4xx, before or during its turn) breaks the sequence: every
 *   later position of its client, held or still to come, is refused with 409 `sequence_broken`.
 *   The client starts a new sequence (a new client id) for the calls it makes after it learns
 *   of the failure. So is a gap nobody fills within `holdMs`: the calls after it are refused.
 * - A position that was applied, or is in progress, is refused with 409 `sequence_superseded`.
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
   * A held call whose client goes away (`signal`) is dropped at once, leaving its position
   * free for the client's retry.
   * @throws ApiError 409 `sequence_broken` after a failed predecessor, `sequence_superseded`
   *   for a position already applied or in progress; 400 for a malformed header; 499 when
   *   `signal` aborts while the call is held.
   */
  async turn(run: RunRecord, header: string | string[] | undefined, req?: object, signal?: AbortSignal): Promise<Turn> {
    const sequence = parseSequence(header);
    if (!sequence) return NO_TURN;
    if (req) this.#taken.add(req);
    const state = this.#state(run, sequence.client);
    const { position } = sequence;
    if (state.broken && position > state.broken.after) throw brokenError(sequence, state.broken);
    if (position < state.next || state.running === position || state.waiters.has(position)) {
      throw new ApiError(
        "sequence_superseded",
        `Call ${position} of client ${sequence.client} was not applied: ${position < state.next ? "that position was already settled" : "a call with the same position is already in progress"}. Send a new call.`,
        "Signal-Sequence",
      );
    }
    if (position > state.next) await this.#wait(state, sequence, signal);
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
        if (outcome !== "retryable") state.next = Math.max(state.next, position + 1);
        if (outcome === "failed") this.#break(state, position, "failed");
        this.#wake(state);
        this.#prune();
      },
    };
  }

  /**
   * A call refused before it took its turn (e.g. a 400 for its body) breaks its client's
   * sequence like a failure in its turn, unless the refusal is retryable: the client will send
   * it again.
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
    const state = this.#state(run, sequence.client);
    if (sequence.position < state.next || state.running === sequence.position) return;
    this.#break(state, sequence.position, "was refused");
  }

  #state(run: RunRecord, client: string): ClientState {
    const key = `${run.run_id}\n${client}`;
    let state = this.#clients.get(key);
    if (!state) {
      state = { next: run.sequences?.[client]?.next ?? 0, running: undefined, waiters: new Map(), broken: undefined, touched: Date.now() };
      this.#clients.set(key, state);
    }
    return state;
  }

  /** Refuses every position after `after`, held or still to come. */
  #break(state: ClientState, after: number, why: string): void {
    if (state.broken && state.broken.after <= after) return;
    state.broken = { after, why: `call ${after} ${why}` };
    for (const [position, go] of state.waiters) if (position > after) go(true);
  }

  #wait(state: ClientState, sequence: SequencePosition, signal: AbortSignal | undefined): Promise<void> {
    const { position } = sequence;
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const gone = () => {
        clearTimeout(timer);
        state.waiters.delete(position);
        reject(new ApiError("client_closed_request", "The client closed the connection while its call was held."));
      };
      if (signal?.aborted) {
        gone();
        return;
      }
      signal?.addEventListener("abort", gone, { once: true });
      const go = (refuse?: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", gone);
        state.waiters.delete(position);
        if (refuse) reject(brokenError(sequence, state.broken!));
        else resolve();
      };
      const expire = () => {
        // A predecessor still running will settle; only a gap with nothing running is given up.
        if (state.running !== undefined) {
          timer = setTimeout(expire, this.holdMs);
          return;
        }
        this.#break(state, state.next, `did not arrive within ${this.holdMs} ms`);
      };
      timer = setTimeout(expire, this.holdMs);
      state.waiters.set(position, go);
    });
  }

  #wake(state: ClientState): void {
    if (state.running === undefined) state.waiters.get(state.next)?.();
  }

  /** Forgets clients idle for an hour (their next position stays in the run's record). */
  #prune(): void {
    if (this.#clients.size < 1024) return;
    const cutoff = Date.now() - 60 * 60 * 1000;
    for (const [key, s] of this.#clients) if (s.touched < cutoff && s.running === undefined && s.waiters.size === 0) this.#clients.delete(key);
  }
}

function brokenError(sequence: SequencePosition, broken: { why: string }): ApiError {
  return new ApiError(
    "sequence_broken",
    `Call ${sequence.position} of client ${sequence.client} was not applied: ${broken.why}, and the calls of a client after a failed call are not applied. Send it again in a new sequence.`,
    "Signal-Sequence",
  );
}

/**
 * The error classes that say the server, not the call, was at fault (busy, out of something,
 * failed): `rate_limited`, `overloaded`, `resource_exhausted`, `internal_error`,
 * `storage_unavailable`, the codes answered 429 or 5xx.
 */
const RETRYABLE_TYPES: ReadonlySet<ErrorType> = new Set(["rate_limit_error", "overloaded_error", "api_error"]);

/**
 * Whether an error leaves a call worth retrying (so it keeps its place in its client's
 * sequence): an error of a retryable class, `conflict_retryable`, or anything unexpected.
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return true;
  return RETRYABLE_TYPES.has(error.type) || error.code === "conflict_retryable";
}
