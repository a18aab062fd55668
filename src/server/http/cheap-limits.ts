import { ApiError } from "../wire/api-error.js";
import type { OperationId } from "../../../generated/operations.js";
import { OPERATION_TRAITS } from "../operation-traits.js";

/**
 * Limits checked on a parsed body before it is validated against its schema: a body at the
 * size limit can carry 4 million token ids, which validation would check one by one before the
 * engine refuses the example for its length anyway. Here an example's `tokens`, `weights`, `logprobs` or `advantages`
 * longer than the longest context is refused from its length alone. The elements of those that
 * remain are checked by validation (`checkAgainst`), which stops after its first issues.
 * Anything that is not of the expected shape is left for the schema to describe.
 *
 * @param contextLength the longest context of any model.
 * @throws ApiError 400 `context_length_exceeded` (param `batch[i].tokens` or `.weights`).
 */
export function checkCheapLimits(operationId: OperationId, body: unknown, contextLength: number): void {
  if (!OPERATION_TRAITS[operationId].trainingBatch || !isObject(body) || !Array.isArray(body.batch)) return;
  body.batch.forEach((example: unknown, i) => {
    if (!isObject(example)) return;
    for (const field of ["tokens", "weights", "logprobs", "advantages"] as const) {
      const values = example[field];
      if (!Array.isArray(values) || values.length <= contextLength) continue;
      const param = `batch[${i}].${field}`;
      throw new ApiError(
        "context_length_exceeded",
        `${param} has ${values.length} entries but no model's context is longer than ${contextLength} tokens.`,
        param,
      );
    }
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
