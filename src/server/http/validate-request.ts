import type { z } from "zod/mini";
import { checkAgainst, summarizeIssues } from "../../internal/validate.js";
import { validationError } from "../wire/api-error.js";

/**
 * Checks one part of a request against its generated schema and returns the parsed value
 * (defaults applied, unknown keys refused).
 * `param` reads like `batch[3].completion`, `run_id` or `limit`.
 *
 * @throws ApiError 422 `validation_error` whose `param` is the first offending field.
 */
export function validatePart<S extends z.ZodMiniType>(schema: S, value: unknown): z.output<S> {
  const result = checkAgainst(schema, value);
  if (result.ok) return result.value;
  const first = result.issues[0];
  throw validationError(summarizeIssues(result.issues), first && first.path !== "" ? first.path : undefined);
}

/**
 * Path and query values arrive as strings; the schemas want integers and booleans where the
 * spec says so. Each value is converted only when its own schema (looked through `optional`,
 * `default` and `nullable`) is a number or boolean and the text is exactly one, so a numeric
 * cursor such as `after=12` stays a string for a string schema. With `numbers: "canonical"`
 * (path parameters: one resource, one path) a number must be written as a plain decimal
 * integer without leading zeros: `1`, never `01`, `1.0` or `1e0`, which stay strings and so fail
 * validation.
 */
export function coerceStrings(
  schema: z.ZodMiniType | undefined,
  values: Record<string, string | string[]>,
  numbers: "any" | "canonical" = "any",
): Record<string, unknown> {
  const shape = objectShape(schema);
  const out: Record<string, unknown> = {};
  const numeric = numbers === "canonical" ? CANONICAL_INTEGER : ANY_NUMBER;
  for (const [key, value] of Object.entries(values)) {
    const kind = shape ? leafType(shape[key]) : undefined;
    if (typeof value === "string" && kind === "number" && numeric.test(value)) out[key] = Number(value);
    else if (typeof value === "string" && kind === "boolean" && (value === "true" || value === "false")) out[key] = value === "true";
    else out[key] = value;
  }
  return out;
}

const ANY_NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
const CANONICAL_INTEGER = /^(0|[1-9][0-9]*)$/;

interface Def {
  type: string;
  innerType?: { def: Def };
  shape?: Record<string, { def: Def }>;
}

function objectShape(schema: z.ZodMiniType | undefined): Record<string, { def: Def }> | undefined {
  const def = (schema as unknown as { def?: Def } | undefined)?.def;
  return def?.type === "object" ? def.shape : undefined;
}

function leafType(schema: { def: Def } | undefined): string | undefined {
  let def = schema?.def;
  while (def && (def.type === "optional" || def.type === "default" || def.type === "nullable") && def.innerType) {
    def = def.innerType.def;
  }
  return def?.type;
}
