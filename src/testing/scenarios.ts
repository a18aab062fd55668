import type { z } from "zod/mini";
import { OPERATION_RESPONSES, OPERATIONS, type OperationId } from "../../generated/operations.js";
import * as gen from "../../generated/zod/zod.gen.js";
import { checkAgainst, summarizeIssues } from "../internal/validate.js";
import { MockServerError } from "./mock-server-error.js";
import { SDK_METHOD_OPERATIONS } from "./sdk-method-names.js";

export type { OperationId };

/** The statuses the spec declares for an operation, as numbers. */
export type DeclaredStatus<Op extends OperationId> = keyof (typeof OPERATION_RESPONSES)[Op] extends infer K
  ? K extends `${infer N extends number}`
    ? N
    : never
  : never;

/** What `respondWith` makes an operation answer. */
export interface Scenario<S extends number = number> {
  /** A status the spec declares for the operation (anything else throws at once). */
  status: S;
  /**
   * `Retry-After` in seconds, for statuses whose response declares that header (429, 503, 409);
   * `null` sends none. @default 0 where the header is declared, so an SDK retries at once
   */
  retryAfter?: number | null | undefined;
  /** How many matching requests get this answer. @default until `reset()` */
  times?: number | undefined;
  /**
   * The whole response body, checked against the operation's response schema for `status`
   * (the `Error` schema for error statuses). @default the spec's example for that status, with
   * `code`, `message` and `param` applied and a fresh `request_id`; for a 2xx status, what Prism
   * answers for it
   */
  body?: unknown | undefined;
  /** The error `code`, e.g. `idempotency_key_reused` (error statuses only). @default the example's */
  code?: string | undefined;
  /** The error `message`. @default the example's when `code` is the example's, else a generic one */
  message?: string | undefined;
  /** The error `param`, the field the error is about. @default the example's when `code` is the example's */
  param?: string | undefined;
}

/** A scenario as the server applies it. */
export interface ActiveScenario {
  operationId: OperationId;
  status: number;
  /** Remaining matches; Infinity until reset. */
  remaining: number;
  headers: Record<string, string>;
  /** The body to send, or undefined to let Prism answer with the example for `status`. */
  body: (requestId: string) => unknown;
}

const OPERATION_IDS = Object.keys(OPERATIONS) as OperationId[];

/**
 * Checks a `respondWith` call against the spec and turns it into what the server applies.
 *
 * @throws MockServerError naming the allowed values: an unknown operationId, a status the spec
 *   does not declare for it, a bad `times` or `retryAfter`, or a `body` that breaks the schema.
 */
export function compileScenario(operationId: string, scenario: Scenario): ActiveScenario {
  const op = (OPERATIONS as Record<string, (typeof OPERATIONS)[OperationId]>)[operationId];
  if (!op) {
    throw new MockServerError(
      `respondWith: unknown operationId '${operationId}'; the spec has ${OPERATION_IDS.join(", ")} (SDK method names such as ${Object.keys(SDK_METHOD_OPERATIONS).join(", ")} work too).`,
    );
  }
  const id = operationId as OperationId;
  const responses = OPERATION_RESPONSES[id] as Record<string, { contentTypes: readonly string[]; headers: readonly string[]; example?: unknown }>;
  const declared = Object.keys(responses);
  const status = scenario?.status;
  const response = responses[String(status)];
  if (typeof status !== "number" || !response) {
    throw new MockServerError(`respondWith: ${id} cannot answer ${String(status)}; the spec declares ${declared.join(", ")} for it.`);
  }
  const times = scenario.times ?? Number.POSITIVE_INFINITY;
  if (times !== Number.POSITIVE_INFINITY && !(Number.isInteger(times) && times >= 1)) {
    throw new MockServerError(`respondWith: times must be a positive integer (or omitted for "until reset"), got ${String(scenario.times)}.`);
  }
  const declaresRetryAfter = response.headers.includes("retry-after");
  const retryAfter = scenario.retryAfter === undefined ? (declaresRetryAfter ? 0 : null) : scenario.retryAfter;
  if (retryAfter !== null) {
    if (!declaresRetryAfter) {
      throw new MockServerError(`respondWith: the spec declares no Retry-After header for ${id} ${status}.`);
    }
    if (!(Number.isInteger(retryAfter) && retryAfter >= 0)) {
      throw new MockServerError(`respondWith: retryAfter must be a non-negative integer of seconds (or null for none), got ${String(retryAfter)}.`);
    }
  }
  const headers: Record<string, string> = {};
  if (retryAfter !== null) headers["retry-after"] = String(retryAfter);

  const isError = status >= 400;
  if (!isError && (scenario.code !== undefined || scenario.message !== undefined || scenario.param !== undefined)) {
    throw new MockServerError(`respondWith: code, message and param are for error statuses; for ${id} ${status} give a body.`);
  }
  let body: ActiveScenario["body"];
  if (scenario.body !== undefined) {
    const schema = isError ? gen.zError : responseSchema(id);
    if (schema && response.contentTypes.includes("application/json")) {
      const checked = checkAgainst(schema, scenario.body);
      if (!checked.ok) {
        throw new MockServerError(`respondWith: the body for ${id} ${status} breaks the spec's schema: ${summarizeIssues(checked.issues)}`);
      }
    }
    const fixed = scenario.body;
    body = () => fixed;
  } else if (isError) {
    body = errorBody(id, status, response.example, scenario, retryAfter);
  } else {
    body = () => undefined;
  }
  if (isError || scenario.body !== undefined) headers["content-type"] = "application/json";
  return { operationId: id, status, remaining: times, headers, body };
}

function errorBody(id: OperationId, status: number, example: unknown, scenario: Scenario, retryAfter: number | null): ActiveScenario["body"] {
  const base = (example as { error?: Record<string, string> } | undefined)?.error;
  if (!base) throw new MockServerError(`respondWith: the spec has no example error body for ${id} ${status}; give a body.`);
  const sameCode = scenario.code === undefined || scenario.code === base.code;
  const error: Record<string, string> = { type: base.type!, code: scenario.code ?? base.code! };
  error.message = scenario.message ?? (sameCode ? agreeWithRetryAfter(base.message!, retryAfter) : `${id} answered ${status} ${error.code} (a mock scenario).`);
  const param = scenario.param ?? (sameCode ? base.param : undefined);
  if (param !== undefined) error.param = param;
  const checked = checkAgainst(gen.zError, { error: { ...error, request_id: "req_0000000000000000" } });
  if (!checked.ok) throw new MockServerError(`respondWith: that error for ${id} ${status} breaks the spec's schema: ${summarizeIssues(checked.issues)}`);
  return (requestId) => ({ error: { ...error, request_id: requestId } });
}

/**
 * The spec's example message with its wait made the one the scenario's `Retry-After` says
 * ("retry after 2 seconds" with a `Retry-After: 7` would contradict the header).
 */
function agreeWithRetryAfter(message: string, retryAfter: number | null): string {
  const wait = retryAfter === null ? "retry later" : `retry after ${retryAfter} ${retryAfter === 1 ? "second" : "seconds"}`;
  return message.replace(/retry after \d+ seconds?/i, wait);
}

/** The generated schema of an operation's success body, e.g. `zGetRunResponse`. */
function responseSchema(id: OperationId): z.ZodMiniType | undefined {
  const name = `z${id[0]!.toUpperCase()}${id.slice(1)}Response`;
  return (gen as unknown as Record<string, z.ZodMiniType | undefined>)[name];
}

/**
 * The scenarios of one mock, first registered first served: `respondWith(op, { times: 2 })`
 * followed by `respondWith(op, { status: 503 })` answers two requests with the first and every
 * later one with the second.
 */
export class ScenarioQueue {
  #active: ActiveScenario[] = [];

  add(scenario: ActiveScenario): void {
    this.#active.push(scenario);
  }

  /** The scenario for this request, if any, counting the use. */
  take(operationId: OperationId): ActiveScenario | undefined {
    const index = this.#active.findIndex((s) => s.operationId === operationId);
    if (index < 0) return undefined;
    const scenario = this.#active[index]!;
    scenario.remaining -= 1;
    if (scenario.remaining <= 0) this.#active.splice(index, 1);
    return scenario;
  }

  clear(): void {
    this.#active = [];
  }
}
