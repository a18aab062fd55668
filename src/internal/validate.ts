import * as z from "zod/mini";
import { type FastCheck, fastCheck } from "./fast-check.js";

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
 * `safeParse` of a value expected to pass (a 2xx body): parsed first without the message map,
 * since zod's compiled objects are about three times faster under a bare context (a `Run`: ~2 µs
 * against ~6 µs), and again with the map only to word a failure. Same schema, same result.
 */
export function safeParseExpectingSuccess<S extends z.core.$ZodType>(schema: S, value: unknown): z.core.util.SafeParseResult<z.output<S>> {
  const quick = z.safeParse(schema, value);
  return quick.success ? quick : safeParse(schema, value);
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
    const issues = result.error.issues.slice(0, MAX_ISSUES).flatMap((issue) => expand(schema, value, issue, []));
    return { ok: false, issues: issues.slice(0, MAX_ISSUES) };
  }
  const unknown = findUnknownKey(value, result.data);
  if (unknown) {
    const key = unknown[unknown.length - 1];
    return { ok: false, issues: [{ path: formatPath(unknown), message: `unknown field '${String(key)}'` }] };
  }
  return { ok: true, value: result.data };
}

/**
 * Whether `value` is certainly accepted by `checkAgainst(schema, value)`, found cheaply: for an
 * object schema whose fields are all leaves (path parameters, most queries), a plain object with
 * only known keys, each leaf valid. `false` means "not certain": run `checkAgainst`, which names
 * the field at fault. A path parameter costs ~1 µs here against ~10 µs for the full check.
 */
export function isPlainlyValid(schema: z.core.$ZodType, value: unknown): boolean {
  const fields = flatFields(schema);
  if (fields === undefined || !isPlainObject(value)) return false;
  let present = 0;
  for (const field of fields) {
    const item = value[field.key];
    if (item === undefined) {
      if (!field.optional) return false;
      continue;
    }
    if (!Object.hasOwn(value, field.key) || !(field.quick?.(item) ?? z.validate(field.schema, item))) return false;
    present++;
  }
  return Object.keys(value).length === present;
}

interface FlatField {
  key: string;
  schema: z.core.$ZodType;
  optional: boolean;
  /** The leaf's quick check (fast-check.ts), where it has one: a yes is zod's yes, a no goes to zod. */
  quick: FastCheck | undefined;
}

const flatPlans = new WeakMap<z.core.$ZodType, FlatField[] | null>();

/** The fields of an object schema made only of (optional) leaves, or `undefined` for any other schema. */
function flatFields(schema: z.core.$ZodType): FlatField[] | undefined {
  let plan = flatPlans.get(schema);
  if (plan === undefined) {
    plan = planFlatFields(schema);
    flatPlans.set(schema, plan);
  }
  return plan ?? undefined;
}

function planFlatFields(schema: z.core.$ZodType): FlatField[] | null {
  const def = defOf(schema) as SchemaDef & { catchall?: unknown };
  if (def.type !== "object" || !def.shape || def.catchall !== undefined || (def.checks?.length ?? 0) > 0) return null;
  const fields: FlatField[] = [];
  for (const [key, field] of Object.entries(def.shape)) {
    const fieldDef = defOf(field);
    const optional = fieldDef.type === "optional";
    const leaf = optional ? fieldDef.innerType : field;
    if (!leaf || !LEAVES.has(defOf(leaf).type)) return null;
    fields.push({ key, schema: leaf, optional, quick: fastCheck(leaf) });
  }
  return fields;
}

/** One line naming the first field at fault, e.g. `lora_r: Too big: expected number to be <=64`. */
export function summarizeIssues(issues: ValidationIssue[]): string {
  const [first] = issues;
  if (!first) return "invalid value";
  const more = issues.length > 1 ? ` (and ${issues.length >= MAX_ISSUES ? "at least " : ""}${issues.length - 1} more)` : "";
  return `${first.path === "" ? "body" : first.path}: ${first.message}${more}`;
}

/**
 * An issue as `ValidationIssue`s. A value that matches no branch of a union (`Example`, any
 * `oneOf`) is reported by the issues of its closest branch, so the message names the field to fix
 * (`batch[0].completion`, `batch[0].advantages[1]`) rather than only `batch[0]`. The closest
 * branch is the one whose properties share the most keys with the value (a `{ prompt }` is a
 * prompt/completion example missing its completion), then the one with the fewest issues.
 */
function expand(root: z.core.$ZodType, value: unknown, issue: z.core.$ZodIssue, prefix: PropertyKey[]): ValidationIssue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return [{ path: formatPath(path), message: issue.message }];
  const input = valueAt(value, path);
  const options = unionOptions(schemaAt(root, path));
  const keys = isPlainObject(input) ? Object.keys(input) : [];
  let best = -1;
  let bestScore = [-1, 0];
  issue.errors.forEach((branch, index) => {
    const shape = options?.[index] ? objectKeys(options[index]) : undefined;
    const shared = shape ? keys.filter((key) => shape.has(key)).length : 0;
    const score = [shared, -branch.length];
    if (score[0]! > bestScore[0]! || (score[0] === bestScore[0] && score[1]! > bestScore[1]!)) {
      best = index;
      bestScore = score;
    }
  });
  if (!isPlainObject(input) || bestScore[0] === 0) {
    return [{ path: formatPath(path), message: `does not match any allowed shape${options ? ` (${options.map(describeShape).join(" | ")})` : ""}` }];
  }
  return issue.errors[best]!.flatMap((inner) => expand(root, value, inner as z.core.$ZodIssue, path));
}

/** The part of a zod definition the walks here read. */
interface SchemaDef {
  type: string;
  checks?: Array<{ _zod: { def: { check: string; maximum?: number } } }>;
  shape?: Record<string, z.core.$ZodType>;
  element?: z.core.$ZodType;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
  options?: z.core.$ZodType[];
  getter?: () => z.core.$ZodType;
}

const defOf = (schema: z.core.$ZodType): SchemaDef => (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;

/** The schema with its wrappers (optional, default, nullable, pipe, lazy) looked through. */
function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  for (let depth = 0; schema && depth < 16; depth++) {
    const def = defOf(schema);
    const inner = def.innerType ?? def.in ?? def.getter?.();
    if (!inner || def.type === "object" || def.type === "array" || def.type === "union") return schema;
    schema = inner;
  }
  return schema;
}

/** The schema of the value at `path` inside one matching `root` (through objects, arrays, records and unions). */
function schemaAt(root: z.core.$ZodType, path: PropertyKey[]): z.core.$ZodType | undefined {
  let at = unwrap(root);
  for (const key of path) {
    if (!at) return undefined;
    const def = defOf(at);
    if (def.type === "union") {
      at = unwrap(def.options?.find((option) => objectKeys(option)?.has(String(key))));
      if (!at) return undefined;
    }
    const inner = defOf(at);
    at = unwrap(inner.type === "object" ? inner.shape?.[String(key)] : inner.type === "array" ? inner.element : inner.valueType);
  }
  return at;
}

function unionOptions(schema: z.core.$ZodType | undefined): z.core.$ZodType[] | undefined {
  return schema && defOf(schema).type === "union" ? defOf(schema).options : undefined;
}

function objectKeys(schema: z.core.$ZodType): Set<string> | undefined {
  const object = unwrap(schema);
  const def = object && defOf(object);
  return def?.type === "object" && def.shape ? new Set(Object.keys(def.shape)) : undefined;
}

/** `{ prompt, completion }`: a branch as the message lists it. */
function describeShape(schema: z.core.$ZodType): string {
  const keys = objectKeys(schema);
  return keys ? `{ ${[...keys].join(", ")} }` : unwrap(schema) ? defOf(unwrap(schema)!).type : "value";
}

function valueAt(value: unknown, path: PropertyKey[]): unknown {
  let at = value;
  for (const key of path) at = isPlainObject(at) || Array.isArray(at) ? (at as Record<PropertyKey, unknown>)[key as string] : undefined;
  return at;
}

/** A leaf's issue in one line (a union of leaves has no closer branch to name). */
function describe(issue: z.core.$ZodIssue): string {
  return issue.code === "invalid_union" ? "does not match any allowed shape" : issue.message;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkLeaf(schema: z.core.$ZodType, value: unknown, path: PropertyKey[], issues: ValidationIssue[]): void {
  if (z.validate(schema, value)) return;
  const result = safeParse(schema, value);
  if (!result.success) issues.push({ path: formatPath(path), message: describe(result.error.issues[0]!) });
}

const LEAVES = new Set(["string", "number", "int", "boolean", "enum", "literal", "null"]);

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
