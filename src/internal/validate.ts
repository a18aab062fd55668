import * as z from "zod/mini";

/** One problem found in a value checked against a generated schema. */
export interface ValidationIssue {
  /** Field path in the style of the error schema's `param`: `batch[3].completion`. */
  path: string;
  message: string;
}

/** Renders a property path as `a.b[3].c`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * The generated zod objects strip unknown keys rather than reject them, so a misspelt field
 * (`max_token`) would vanish silently. Comparing the input with what the schema kept finds it.
 * Keys of records (`metadata`) survive parsing, so they are never reported.
 */
function findUnknownKey(input: unknown, parsed: unknown, path: PropertyKey[] = []): PropertyKey[] | undefined {
  if (Array.isArray(input) && Array.isArray(parsed)) {
    for (let i = 0; i < input.length; i++) {
      const found = findUnknownKey(input[i], parsed[i], [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  if (isPlainObject(input) && isPlainObject(parsed)) {
    for (const key of Object.keys(input)) {
      // Own keys only: `in` would let `constructor`, `toString` or `__proto__` through as known.
      if (!Object.hasOwn(parsed, key)) return [...path, key];
      const found = findUnknownKey(input[key], parsed[key], [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}

/** `"a"`, `1`: a value as zod's English messages show it. */
const show = (value: unknown) => (typeof value === "string" ? `"${value}"` : String(value));

/** What a value is, for "expected number, received string". */
function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value;
}

/**
 * English issue messages in the words of zod's own English locale
 * (`Too big: expected number to be <=64`) for the checks the generated schemas make. Zod Mini
 * loads no locale of its own and says only "Invalid input", and its full locale costs a browser
 * bundle ~1 KB more than this. The map is passed per parse rather than set with `z.config`, so
 * an application's own zod configuration is never touched.
 */
const messages: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case "invalid_type":
      return `Invalid input: expected ${issue.expected}, received ${kind(issue.input)}`;
    case "invalid_value":
      return issue.values.length === 1
        ? `Invalid input: expected ${show(issue.values[0])}`
        : `Invalid option: expected one of ${issue.values.map(show).join("|")}`;
    case "too_big":
    case "too_small": {
      const big = issue.code === "too_big";
      const bound = big ? issue.maximum : issue.minimum;
      const adj = issue.exact ? "exactly " : `${big ? "<" : ">"}${issue.inclusive ? "=" : ""}`;
      const unit = issue.origin === "string" ? "characters" : issue.origin === "array" ? "items" : undefined;
      return `Too ${big ? "big" : "small"}: expected ${issue.origin ?? "value"} to ${unit ? `have ${adj}${bound} ${unit}` : `be ${adj}${bound}`}`;
    }
    case "invalid_format":
      return issue.format === "regex" ? `Invalid string: must match pattern ${issue.pattern}` : `Invalid ${issue.format}`;
    case "not_multiple_of":
      return `Invalid number: must be a multiple of ${issue.divisor}`;
    default:
      return "Invalid input";
  }
};

/** `safeParse` of a generated (Zod Mini) schema with English issue messages (see `messages`). */
export function safeParse<S extends z.core.$ZodType>(schema: S, value: unknown): z.core.util.SafeParseResult<z.output<S>> {
  return z.safeParse(schema, value, { error: messages });
}

/**
 * Checks `value` against a generated schema and returns the parsed value (defaults applied)
 * or every issue, each with its field path. Unknown keys are issues too.
 */
export function checkAgainst<S extends z.core.$ZodType>(
  schema: S,
  value: unknown,
): { ok: true; value: z.output<S> } | { ok: false; issues: ValidationIssue[] } {
  const result = safeParse(schema, value);
  if (!result.success) {
    return {
      ok: false,
      issues: result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: describe(issue) })),
    };
  }
  const unknown = findUnknownKey(value, result.data);
  if (unknown) {
    const key = unknown[unknown.length - 1];
    return { ok: false, issues: [{ path: formatPath(unknown), message: `unknown field '${String(key)}'` }] };
  }
  return { ok: true, value: result.data };
}

/** One line naming the first field at fault, e.g. `lora_r: Too big: expected number to be <=64`. */
export function summarizeIssues(issues: ValidationIssue[]): string {
  const [first] = issues;
  if (!first) return "invalid value";
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  return `${first.path === "" ? "body" : first.path}: ${first.message}${more}`;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_union") {
    return "does not match any allowed shape";
  }
  return issue.message;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
