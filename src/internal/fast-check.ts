import type * as core from "zod/v4/core";

/**
 * A quick yes for response bodies: a predicate built once per (tolerant) response schema from
 * its zod definition that says `true` only for a value the schema accepts as it is, so that the
 * value can be used without parsing. Anything else (`false`: a bad value, or one the predicate
 * cannot vouch for) goes through zod, which gives the verdict and the message naming the field.
 *
 * Why: a 2xx body is checked on every call. Zod's parse of a `Run` is a few µs in a tight loop,
 * but it runs a good deal of generic code and builds an output copy with issue bookkeeping per
 * field; among other calls (an application's real traffic) that costs ~40 µs a call here, about
 * a tenth of a loopback round trip. These predicates are a handful of small closures shared by
 * every schema.
 *
 * Sound by construction, and held to it by a test over every response schema of the spec: a
 * value the predicate accepts is one zod parses to an equal value. So the predicate is built only
 * for schemas whose parse of a valid value returns that value: objects must keep unknown fields
 * (the tolerant reader's catch-all), and defaults, transforms and checks it does not know make
 * the whole schema go through zod (`fastCheck` returns `undefined`).
 */
export type FastCheck = (value: unknown) => boolean;

const built = new WeakMap<core.$ZodType, FastCheck | null>();

/** The quick check of `schema`, or `undefined` when the schema has parts it does not cover. */
export function fastCheck(schema: core.$ZodType): FastCheck | undefined {
  let check = built.get(schema);
  if (check === undefined) {
    check = build(schema);
    built.set(schema, check);
  }
  return check ?? undefined;
}

/** Thrown inside `build` for a part the predicates do not cover. */
const UNSUPPORTED = Symbol("unsupported");

function build(schema: core.$ZodType): FastCheck | null {
  try {
    return node(schema);
  } catch (error) {
    if (error === UNSUPPORTED) return null;
    throw error;
  }
}

function unsupported(): never {
  throw UNSUPPORTED;
}

const anything: FastCheck = () => true;
const isNull: FastCheck = (value) => value === null;
const isBoolean: FastCheck = (value) => typeof value === "boolean";
const isString: FastCheck = (value) => typeof value === "string";
const isNumber: FastCheck = (value) => typeof value === "number" && Number.isFinite(value);
const isSafeInteger: FastCheck = (value) => Number.isSafeInteger(value);

interface CheckDef {
  check: string;
  value?: unknown;
  inclusive?: boolean;
  maximum?: number;
  minimum?: number;
  length?: number;
  format?: string;
  pattern?: RegExp;
}

function node(schema: core.$ZodType): FastCheck {
  const def = schema._zod.def as core.$ZodTypeDef & Record<string, unknown>;
  if (def.coerce === true) unsupported();
  switch (def.type) {
    case "unknown":
    case "any":
      return withChecks(anything, def);
    case "null":
      return withChecks(isNull, def);
    case "boolean":
      return withChecks(isBoolean, def);
    case "number": {
      if (def.format !== undefined && def.format !== "safeint") unsupported();
      return withChecks(def.format === "safeint" ? isSafeInteger : isNumber, def);
    }
    case "string": {
      let base = isString;
      if (def.format !== undefined) {
        // The format is the schema's own check: only those that are exactly one pattern.
        if ((def.format !== "datetime" && def.format !== "regex") || !(def.pattern instanceof RegExp)) unsupported();
        base = matches(def.pattern);
      }
      return withChecks(base, def);
    }
    case "enum": {
      const values = Object.values(def.entries as Record<string, unknown>);
      return withChecks((value) => values.includes(value), def);
    }
    case "literal": {
      const values = def.values as unknown[];
      return withChecks((value) => values.includes(value), def);
    }
    case "optional": {
      const inner = node(def.innerType as core.$ZodType);
      return withChecks((value) => value === undefined || inner(value), def);
    }
    case "nullable": {
      const inner = node(def.innerType as core.$ZodType);
      return withChecks((value) => value === null || inner(value), def);
    }
    case "array": {
      const element = node(def.element as core.$ZodType);
      return withChecks((value) => Array.isArray(value) && value.every((item) => element(item)), def);
    }
    case "record": {
      const keyType = def.keyType as core.$ZodType;
      // A key schema listing its keys (an enum) makes zod read those keys only: not covered.
      if (keyType._zod.values !== undefined || def.mode === "loose") unsupported();
      const key = node(keyType);
      const item = node(def.valueType as core.$ZodType);
      // A record's parse copies its own enumerable entries into a new object: equal for a JSON object.
      return withChecks((value) => {
        if (!isJsonObject(value)) return false;
        for (const name of Object.keys(value)) {
          if (!key(name) || !item(value[name])) return false;
        }
        return true;
      }, def);
    }
    case "object": {
      // Unknown fields must be kept, as the tolerant reader's catch-all does; a schema that strips
      // them (or checks them) would return something other than the value.
      const catchall = def.catchall as core.$ZodType | undefined;
      const catchallType = catchall?._zod.def.type;
      if (catchallType !== "unknown" && catchallType !== "any") unsupported();
      const shape = def.shape as Record<string, core.$ZodType>;
      const names = Object.keys(shape);
      // A field named like one of Object.prototype's would be read from the prototype when absent.
      if (names.some((name) => name in Object.prototype) || Object.getOwnPropertySymbols(shape).length > 0) unsupported();
      const checks = names.map((name) => node(shape[name]!));
      // A missing key may only be one whose schema takes `undefined` (optional): zod leaves it out too.
      return withChecks((value) => {
        if (!isJsonObject(value)) return false;
        for (let i = 0; i < names.length; i++) {
          const name = names[i]!;
          const field = Object.hasOwn(value, name) ? value[name] : undefined;
          if (!checks[i]!(field)) return false;
        }
        return true;
      }, def);
    }
    case "union": {
      const options = (def.options as core.$ZodType[]).map(node);
      return withChecks((value) => options.some((option) => option(value)), def);
    }
    default:
      return unsupported();
  }
}

/**
 * An object as `JSON.parse` makes it: Object's prototype, not an array, no own `__proto__` field
 * (zod's copy would leave it out).
 */
function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype && !Object.hasOwn(value, "__proto__");
}

function matches(pattern: RegExp): FastCheck {
  return (value) => {
    if (typeof value !== "string") return false;
    pattern.lastIndex = 0;
    return pattern.test(value);
  };
}

/** `base` followed by the schema's checks (bounds, lengths, patterns). */
function withChecks(base: FastCheck, def: Record<string, unknown>): FastCheck {
  const defs = ((def.checks as core.$ZodCheck[] | undefined) ?? []).map((check) => check._zod.def as unknown as CheckDef);
  if (defs.length === 0) return base;
  const checks = defs.map(checkOf);
  return (value) => {
    if (!base(value)) return false;
    for (const check of checks) if (!check(value)) return false;
    return true;
  };
}

function checkOf(def: CheckDef): FastCheck {
  switch (def.check) {
    case "greater_than": {
      const bound = def.value;
      if (typeof bound !== "number") unsupported();
      return def.inclusive === true ? (value) => (value as number) >= bound : (value) => (value as number) > bound;
    }
    case "less_than": {
      const bound = def.value;
      if (typeof bound !== "number") unsupported();
      return def.inclusive === true ? (value) => (value as number) <= bound : (value) => (value as number) < bound;
    }
    case "max_length": {
      const maximum = def.maximum;
      if (typeof maximum !== "number") unsupported();
      return (value) => (value as { length: number }).length <= maximum;
    }
    case "min_length": {
      const minimum = def.minimum;
      if (typeof minimum !== "number") unsupported();
      return (value) => (value as { length: number }).length >= minimum;
    }
    case "length_equals": {
      const length = def.length;
      if (typeof length !== "number") unsupported();
      return (value) => (value as { length: number }).length === length;
    }
    case "string_format": {
      if (def.format !== "regex" || !(def.pattern instanceof RegExp)) unsupported();
      return matches(def.pattern);
    }
    default:
      return unsupported();
  }
}
