import * as core from "zod/v4/core";

/**
 * The tolerant reader: the response schema an SDK built from today's spec uses to read a newer
 * server's answers. Derived from the generated schema, so what is still an error is exactly
 * what the spec says: a missing required field, a known field of the wrong type or out of its
 * bounds. Two things a server may add are accepted instead:
 * - unknown fields of an object are kept (present at runtime; the types list the known ones);
 * - an enum value the SDK does not know is passed through as a string (the generated types say
 *   so: `"active" | (string & {})`). Single-value `object` tags (`"run"`, `"list"`) name the
 *   resource and stay checked, as in the generated types.
 *
 * Works on zod's shared core (`schema._zod.def`), so the generated schemas may be classic zod or
 * Zod Mini; each derived schema is built once per generated schema and kept (WeakMap).
 */
export function tolerantSchema<S extends core.$ZodType>(schema: S): S {
  return derive(schema) as S;
}

/**
 * Whether objects are read with zod's compiled parser (the one classic zod uses; Zod Mini's
 * objects interpret their shape field by field): about twice as fast on a `Run` (18 → 10 µs
 * here). It compiles with `new Function`, so only where code generation is a given (Node, Bun,
 * Deno); in a browser zod's probe for it would log a CSP violation on pages that forbid eval.
 */
const compiledObjects = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node !== undefined;

const derived = new WeakMap<core.$ZodType, core.$ZodType>();
const unknownValue = new core.$ZodUnknown({ type: "unknown" });
const anyString = new core.$ZodString({ type: "string" } as core.$ZodStringDef);

function derive(schema: core.$ZodType, key?: PropertyKey): core.$ZodType {
  const def = schema._zod.def as core.$ZodTypes["_zod"]["def"];
  if (def.type === "enum") {
    const values = Object.values((def as core.$ZodEnumDef).entries);
    return key === "object" && values.length === 1 ? schema : anyString;
  }
  const known = derived.get(schema);
  if (known) return known;
  const result = rebuild(schema, def);
  derived.set(schema, result);
  return result;
}

/** The same schema with its parts derived; the original when nothing inside changes. */
function rebuild(schema: core.$ZodType, def: core.$ZodTypes["_zod"]["def"]): core.$ZodType {
  switch (def.type) {
    case "object": {
      const shape: Record<string, core.$ZodType> = {};
      for (const [name, field] of Object.entries(def.shape)) shape[name] = derive(field, name);
      const tolerant = { ...def, shape, catchall: def.catchall ?? unknownValue } as core.$ZodObjectDef;
      return compiledObjects ? new core.$ZodObjectJIT(tolerant) : core.clone(schema, tolerant);
    }
    case "array": {
      const element = derive(def.element);
      return element === def.element ? schema : core.clone(schema, { ...def, element } as typeof def);
    }
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch": {
      const inner = def.innerType as core.$ZodType;
      const innerType = derive(inner);
      return innerType === inner ? schema : core.clone(schema, { ...def, innerType } as typeof def);
    }
    case "union": {
      const options = def.options.map((option) => derive(option));
      return options.every((option, i) => option === def.options[i]) ? schema : core.clone(schema, { ...def, options } as typeof def);
    }
    case "intersection": {
      const left = derive(def.left);
      const right = derive(def.right);
      return left === def.left && right === def.right ? schema : core.clone(schema, { ...def, left, right } as typeof def);
    }
    case "record": {
      const valueType = derive(def.valueType);
      return valueType === def.valueType ? schema : core.clone(schema, { ...def, valueType } as typeof def);
    }
    case "tuple": {
      const items = def.items.map((item) => derive(item));
      const rest = def.rest ? derive(def.rest) : def.rest;
      return items.every((item, i) => item === def.items[i]) && rest === def.rest ? schema : core.clone(schema, { ...def, items, rest } as typeof def);
    }
    case "lazy": {
      const getter = def.getter;
      return core.clone(schema, { ...def, getter: () => derive(getter()) } as typeof def);
    }
    case "pipe": {
      const inner = derive(def.in);
      return inner === def.in ? schema : core.clone(schema, { ...def, in: inner } as typeof def);
    }
    default:
      return schema;
  }
}
