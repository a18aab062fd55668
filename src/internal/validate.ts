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
 * The most issues one check reports: the first names the field at fault, the rest are counted
 * ("and 99 more"). A value with more bad elements than this is not examined further.
 */
export const MAX_ISSUES = 100;

/**
 * Checks `value` against a generated schema and returns the parsed value (defaults applied)
 * or its first issues (at most `MAX_ISSUES`), each with its field path. Unknown keys are issues too.
 *
 * The leaves of the value (numbers, strings, booleans: where a large value has its elements)
 * are checked first, one by one in a loop, stopping at `MAX_ISSUES`; only a value whose leaves
 * are all valid is parsed by zod, whose issues then come from its few containers. So a body of a
 * million bad token ids costs one pass that stops early, never a million issue objects (which
 * zod gathers with a spread per level: past ~120 000 it overflows the stack).
 */
export function checkAgainst<S extends z.core.$ZodType>(
  schema: S,
  value: unknown,
): { ok: true; value: z.output<S> } | { ok: false; issues: ValidationIssue[] } {
  const leaves: ValidationIssue[] = [];
  checkLeaves(schema, value, [], leaves);
  if (leaves.length > 0) return { ok: false, issues: leaves };
  const result = safeParse(schema, value);
  if (!result.success) {
    return {
      ok: false,
      issues: result.error.issues.slice(0, MAX_ISSUES).map((issue) => ({ path: formatPath(issue.path), message: describe(issue) })),
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
  const more = issues.length > 1 ? ` (and ${issues.length >= MAX_ISSUES ? "at least " : ""}${issues.length - 1} more)` : "";
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

function checkLeaf(schema: z.core.$ZodType, value: unknown, path: PropertyKey[], issues: ValidationIssue[]): void {
  if (z.validate(schema, value)) return;
  const result = safeParse(schema, value);
  if (!result.success) issues.push({ path: formatPath(path), message: describe(result.error.issues[0]!) });
}

/** The part of a zod definition `checkLeaves` reads. */
interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  element?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
  options?: z.core.$ZodType[];
  checks?: Array<{ _zod: { def: { check: string; maximum?: number } } }>;
}

const LEAVES = new Set(["string", "number", "int", "boolean", "enum", "literal", "null"]);

function defOf(schema: z.core.$ZodType): Def {
  return schema._zod.def as unknown as Def;
}

/**
 * Adds to `issues` (until it holds `MAX_ISSUES`) each leaf of `value` that its schema refuses,
 * walking the schema and the value together: known keys of objects, elements of arrays, values
 * of records, and the one branch of a union of objects whose keys the value's fit. Anything
 * else (a container of the wrong type, a missing key, an array over its `maxItems`, a union
 * it cannot tell apart) is left for zod, which reports it in one issue. Elements are visited
 * in a loop: the depth of the walk is the schema's, whatever the value's size.
 */
function checkLeaves(schema: z.core.$ZodType, value: unknown, path: PropertyKey[], issues: ValidationIssue[]): void {
  let def = defOf(schema);
  while (
    (def.type === "optional" || def.type === "default" || def.type === "prefault" || def.type === "nullable" || def.type === "readonly") &&
    def.innerType
  ) {
    if (value === undefined || (value === null && def.type === "nullable")) return;
    schema = def.innerType;
    def = defOf(schema);
  }
  if (value === undefined) return;
  if (LEAVES.has(def.type)) {
    checkLeaf(schema, value, path, issues);
    return;
  }
  if (def.type === "object" && def.shape && isPlainObject(value)) {
    for (const key of Object.keys(def.shape)) {
      if (issues.length >= MAX_ISSUES) return;
      if (Object.hasOwn(value, key)) checkLeaves(def.shape[key]!, value[key], [...path, key], issues);
    }
    return;
  }
  if (def.type === "array" && def.element && Array.isArray(value)) {
    const max = Math.min(...(def.checks ?? []).map((c) => (c._zod.def.check === "max_length" ? (c._zod.def.maximum ?? Infinity) : Infinity)));
    if (value.length > max) return;
    const element = def.element;
    if (LEAVES.has(defOf(element).type)) {
      // The common large case (token ids, weights, logprobs): a tight loop, a path only for a bad one.
      for (let i = 0; i < value.length && issues.length < MAX_ISSUES; i++)
        if (!z.validate(element, value[i])) checkLeaf(element, value[i], [...path, i], issues);
      return;
    }
    for (let i = 0; i < value.length && issues.length < MAX_ISSUES; i++) checkLeaves(element, value[i], [...path, i], issues);
    return;
  }
  if (def.type === "record" && def.valueType && isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      if (issues.length >= MAX_ISSUES) return;
      checkLeaves(def.valueType, value[key], [...path, key], issues);
    }
    return;
  }
  if (def.type === "union" && def.options && isPlainObject(value)) {
    const keys = Object.keys(value);
    const fits = def.options.filter((option) => {
      const shape = defOf(option).shape;
      return shape !== undefined && keys.every((key) => Object.hasOwn(shape, key));
    });
    if (fits.length === 1) checkLeaves(fits[0]!, value, path, issues);
  }
}
