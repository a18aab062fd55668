import type { IncomingMessage, ServerResponse } from "node:http";
import type * as z from "zod/mini";
import type { OPERATIONS, OperationId } from "../../generated/operations.js";
import type { AdapterCache } from "./runs/adapter-cache.js";
import type { Engine, ModelInfo } from "./engine/types.js";
import type { IdempotencyStore } from "./store/idempotency.js";
import type { LiveRuns } from "./runs/live-runs.js";
import type { CallSequencer } from "./runs/call-sequencer.js";
import type { RunQueue } from "./runs/run-queue.js";
import type { RunStorage } from "./store/run-store.js";
import type { RunEvents } from "./runs/run-events.js";
import type { Admission } from "./runs/admission.js";
import type { CheckpointExpiry } from "./runs/checkpoint-expiry.js";
import type { ServerLimits } from "./limits.js";
import type { ApiError } from "./wire/api-error.js";

/** What every handler can use; one per server. */
export interface Services {
  engine: Engine;
  store: RunStorage;
  idempotency: IdempotencyStore;
  queue: RunQueue;
  /** Orders each client's pipelined calls on a run (`Signal-Sequence`) in front of `queue`. */
  sequencer: CallSequencer;
  live: LiveRuns;
  /** The runs' live events (`watchRun`), published after each change is durable. */
  events: RunEvents;
  adapters: AdapterCache;
  /** Removes expired checkpoints in the background (`removeSoon`, a timer). */
  expiry: CheckpointExpiry;
  /** The time now in epoch ms (`ServerOptions.clock`): checkpoint lifetimes are measured on it. */
  clock: () => number;
  /** Bounds of the engine-bound calls held at once. */
  admission: Admission;
  limits: ServerLimits;
  /** The engine's models, the default first. */
  models: ModelInfo[];
  defaultModelId: string;
  startedAt: number;
  version: string;
}

/** A part of a request as its generated validator outputs it (defaults applied); `{}` for a part the operation does not have. */
type Validated<S> = S extends z.ZodMiniType ? z.output<S> : Record<string, never>;

/** One request after routing, authentication and validation, typed by its operation. */
export interface RequestContext<Op extends OperationId = OperationId> {
  services: Services;
  requestId: string;
  operationId: Op;
  /** SHA-256 of the caller's API key; "" for getHealth. */
  keyHash: string;
  /** Validated path parameters. */
  path: Validated<(typeof OPERATIONS)[Op]["params"]>;
  /** Validated query, defaults applied. */
  query: Validated<(typeof OPERATIONS)[Op]["query"]>;
  /** Validated body, defaults applied; `{}` when an optional body is omitted. */
  body: Validated<(typeof OPERATIONS)[Op]["body"]>;
  /** The body as sent, before defaults were applied (`{}` when there is none). */
  rawBody: unknown;
  /** Set when the POST carried an Idempotency-Key. */
  idempotency?: { scope: string; request_hash: string };
  req: IncomingMessage;
  res: ServerResponse;
  /** Aborts when the client goes away before its answer is complete. */
  signal: AbortSignal;
  /**
   * Answers with `error`, its status and headers given by the pipeline; for a handler that
   * writes its own answer (a stream). Others throw the error.
   */
  sendError: (error: ApiError) => void;
  /**
   * Moves an engine-bound call from held to the server's shared queue (see `Admission`); the
   * pipeline calls it once the body is read, `inTurn` once a pipelined call's turn has come.
   * Calling it again, or for a call that is not engine-bound, does nothing.
   * @throws ApiError 503 `overloaded` when the shared queue is full.
   */
  enterQueue: () => void;
}

/** A handler's answer; the pipeline writes it (except `streamed`, written by the handler). */
export type Reply =
  | {
      kind: "json";
      status: number;
      body: unknown;
      /** The idempotency record is already committed in this run's state file. */
      recordedInRun?: string;
      /** The run a side-stored record belongs to (so deleting the run forgets it). */
      runId?: string;
    }
  | { kind: "bytes"; status: number; body: Uint8Array; contentType: string }
  | { kind: "streamed" };

/** The handler of one operation: its context's path, query and body are typed from the spec. */
export type Handler<Op extends OperationId> = (ctx: RequestContext<Op>) => Promise<Reply>;

/** A handler for every operation of the spec: one missing is a compile error that names it. */
export type Handlers = { readonly [Op in OperationId]: Handler<Op> };

/** A JSON reply. */
export function json(status: number, body: unknown, extra: { recordedInRun?: string; runId?: string } = {}): Reply {
  return { kind: "json", status, body, ...extra };
}
