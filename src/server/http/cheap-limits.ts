import type * as z from "zod/mini";
import * as gen from "../../../generated/zod/zod.gen.js";
import { safeParse } from "../../internal/validate.js";
import { ApiError, validationError } from "../wire/api-error.js";
import type { OperationId } from "../../../generated/operations.js";
import { OPERATION_TRAITS } from "../operation-traits.js";

const tokenSchema = elementOf(gen.zTokensExample.shape.tokens);
const weightSchema = elementOf(gen.zTokensExample.shape.weights);

/**
 * Limits checked on a parsed body before it is validated against its schema, where the cost is
 * per array element: a body at the size limit can carry 4 million token ids, which the schema
 * would check one by one (seconds of blocked event loop, and an issue per bad element) before the
 * engine refuses the example for its length anyway. Here an example's `tokens` or `weights`
 * longer than the longest context is refused from its length alone, and the elements of those
 * that remain are checked against the generated element schemas, stopping at the first bad one.
 * Anything that is not of the expected shape is left for the schema to describe.
 *
 * @param contextLength the longest context of any model.
 * @throws ApiError 400 `context_length_exceeded` (param `batch[i].tokens` or `.weights`);
 *   422 `validation_error` naming the first bad element.
 */
export function checkCheapLimits(operationId: OperationId, body: unknown, contextLength: number): void {
  if (!OPERATION_TRAITS[operationId].trainingBatch || !isObject(body) || !Array.isArray(body.batch)) return;
  body.batch.forEach((example: unknown, i) => {
    if (!isObject(example)) return;
    for (const [field, schema] of [
      ["tokens", tokenSchema],
      ["weights", weightSchema],
    ] as const) {
      const values = example[field];
      if (!Array.isArray(values)) continue;
      const param = `batch[${i}].${field}`;
      if (values.length > contextLength) {
        throw new ApiError(
          400,
          "invalid_request_error",
          "context_length_exceeded",
          `${param} has ${values.length} entries but no model's context is longer than ${contextLength} tokens.`,
          param,
        );
      }
      const bad = values.findIndex((v) => !safeParse(schema, v).success);
      if (bad >= 0)
        throw validationError(
          `${param}[${bad}]: ${JSON.stringify(values[bad])?.slice(0, 40)} is not a valid ${field === "tokens" ? "token id" : "weight"}`,
          `${param}[${bad}]`,
        );
    }
  });
}

interface Def {
  type: string;
  element?: z.core.$ZodType;
  innerType?: z.core.$ZodType;
}

/** The element schema of an array schema, looked through `optional`. */
function elementOf(schema: z.core.$ZodType): z.core.$ZodType {
  let def = schema._zod.def as unknown as Def;
  while (def.type === "optional" && def.innerType) def = def.innerType._zod.def as unknown as Def;
  if (!def.element) throw new TypeError(`expected an array schema, got ${def.type}`);
  return def.element;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
