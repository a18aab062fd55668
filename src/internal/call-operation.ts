import type * as z from "zod/mini";
import { OPERATIONS, type OperationId, type OperationRequest, type OperationResult } from "../../generated/operations.js";
import { APIResponseValidationError } from "../errors.js";
import { validateInput, type Api } from "./api.js";
import { isPlainlyValid } from "./validate.js";
import { APIPromise, type RawCall } from "../core/api-promise.js";
import { definedOnly } from "./defined-only.js";
import type { DirectInit } from "./direct-client.js";
import type { RequestOptions } from "../core/request-options.js";

/** What the typed call reads of an operation's generated definition. */
interface Operation {
  readonly operationId: string;
  readonly method: string;
  readonly path: string;
  readonly params: z.ZodMiniType | undefined;
  readonly query: z.ZodMiniType | undefined;
  readonly body: z.ZodMiniType | undefined;
  readonly response: z.ZodMiniType | undefined;
}

/** How to send a call beyond its request: the body's media type, extra headers. */
export interface SendOptions {
  /** @default "json" (or "arrayBuffer" for an operation whose 2xx body is not JSON) */
  parseAs?: DirectInit["parseAs"];
  headers?: Record<string, string>;
}

/**
 * Calls one operation of the spec with a request typed from it (`{ path, query, body }` as
 * `OperationRequest` has them): each part is checked against the operation's generated validator
 * before anything is sent, and the 2xx body against its response validator when the result is
 * asked for. An operation whose 2xx body is not JSON resolves to its bytes.
 * @throws ValidationError (as a rejection) naming the first bad field, e.g. `getRun: run_id: ...`;
 *   the error tree of the transport; APIResponseValidationError for a body that breaks the spec.
 */
export function callOperation<Op extends OperationId>(
  api: Api,
  operationId: Op,
  request: OperationRequest[Op],
  options?: RequestOptions,
): APIPromise<OperationResult[Op]> {
  const operation: Operation = OPERATIONS[operationId];
  if (operation.response !== undefined) {
    return api.call(operationId, operation.response, (init) => send(api, operation, request, init.fetch), options) as APIPromise<OperationResult[Op]>;
  }
  const raw = api.send(operationId, (init) => send(api, operation, request, init.fetch, { parseAs: "arrayBuffer" }), options);
  return new APIPromise(raw, ({ data, requestId }) => {
    if (!(data instanceof ArrayBuffer)) throw new APIResponseValidationError(operationId, "", "expected the body's bytes", requestId);
    return new Uint8Array(data) as OperationResult[Op];
  });
}

/** Like `callOperation`, with the body read as `parseAs` and left unparsed (streams). */
export function sendOperation<Op extends OperationId>(
  api: Api,
  operationId: Op,
  request: OperationRequest[Op],
  options: RequestOptions | undefined,
  sendOptions: SendOptions,
): Promise<RawCall> {
  return api.send(operationId, (init) => send(api, OPERATIONS[operationId], request, init.fetch, sendOptions), options);
}

/**
 * Checks a request against the operation's generated validators without sending it, and
 * returns its query without `undefined` fields (an `after: undefined` is no cursor, not a bad one).
 * @throws ValidationError naming the first bad field.
 */
export function checkRequest<Op extends OperationId>(operationId: Op, request: OperationRequest[Op]): Record<string, unknown> | undefined {
  return check(OPERATIONS[operationId], request as Parts);
}

interface Parts {
  path?: Record<string, unknown>;
  query?: Record<string, unknown>;
  body?: unknown;
}

function check(operation: Operation, { path, query, body }: Parts): Record<string, unknown> | undefined {
  const name = operation.operationId;
  if (operation.params && !isPlainlyValid(operation.params, path)) validateInput(name, operation.params, path);
  const checkedQuery = operation.query ? definedOnly(query ?? {}) : undefined;
  if (operation.query && !isPlainlyValid(operation.query, checkedQuery)) validateInput(name, operation.query, checkedQuery);
  if (operation.body && body !== undefined) validateInput(name, operation.body, body);
  return checkedQuery;
}

/**
 * Checks a request against the operation's validators and sends it. Runs inside the call, so a
 * ValidationError rejects the call's promise instead of throwing synchronously.
 */
function send(api: Api, operation: Operation, request: unknown, fetch: DirectInit["fetch"], sendOptions: SendOptions = {}) {
  const parts = request as Parts;
  const query = check(operation, parts);
  const init: DirectInit = { fetch, params: { path: parts.path, query }, body: parts.body };
  if (sendOptions.parseAs !== undefined) init.parseAs = sendOptions.parseAs;
  if (sendOptions.headers !== undefined) init.headers = sendOptions.headers;
  return api.raw(operation.method, operation.path, init);
}
