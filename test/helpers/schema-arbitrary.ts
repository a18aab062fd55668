import fc from "fast-check";
import { z } from "zod/mini";

/** The subset of JSON Schema (draft 2020-12) that `z.toJSONSchema` emits for the spec. */
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  pattern?: string;
}

/**
 * Caps that keep fuzzed requests cheap for a real model on CPU: the spec allows 256 prompts of
 * 1024 tokens each, which is valid but would make the fuzz run take hours. Values stay inside
 * the spec's ranges, so every generated value is still valid.
 */
export interface Caps {
  maxItems: number;
  uniqueFields: string[];
  maxLength: number;
  /** Per-field upper bounds for integers, e.g. `{ max_tokens: 8 }`. */
  fields: Record<string, number>;
}

// `uniqueFields`: arrays the spec marks `uniqueItems`, which the generated zod schema checks with a
// refinement that its JSON Schema form (what this reads) cannot carry.
const defaultCaps: Caps = { uniqueFields: ["target_modules"], maxItems: 3, maxLength: 24, fields: { max_tokens: 6, n: 2, top_k: 50 } };

/** fast-check arbitrary of values valid against a generated zod schema (its JSON Schema form). */
export function validArbitrary(schema: z.ZodMiniType, caps: Partial<Caps> = {}): fc.Arbitrary<unknown> {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  return fromSchema(json, { ...defaultCaps, ...caps }, "");
}

function fromSchema(schema: JsonSchema, caps: Caps, field: string): fc.Arbitrary<unknown> {
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const union = schema.anyOf ?? schema.oneOf;
  if (union) return fc.oneof(...union.map((s) => fromSchema(s, caps, field)));
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length > 1) return fc.oneof(...types.map((type) => fromSchema({ ...schema, type }, caps, field)));
  switch (types[0]) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer": {
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1000);
      const max = Math.min(schema.maximum ?? 1_000_000, caps.fields[field] ?? Number.POSITIVE_INFINITY);
      return fc.integer({ min, max: Math.max(min, max) });
    }
    case "number": {
      const min = schema.minimum ?? schema.exclusiveMinimum ?? -1000;
      const max = schema.maximum ?? schema.exclusiveMaximum ?? 1000;
      return fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).filter((n) => n !== schema.exclusiveMinimum && n !== schema.exclusiveMaximum);
    }
    case "string": {
      if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length <= (schema.maxLength ?? 1e9));
      const minLength = schema.minLength ?? 0;
      return fc.string({ minLength, maxLength: Math.max(minLength, Math.min(schema.maxLength ?? caps.maxLength, caps.maxLength)) });
    }
    case "array": {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.max(minLength, Math.min(schema.maxItems ?? caps.maxItems, caps.maxItems));
      const items = fromSchema(schema.items ?? {}, caps, field);
      if (schema.uniqueItems === true || caps.uniqueFields.includes(field))
        return fc.uniqueArray(items, { minLength, maxLength, selector: (item) => JSON.stringify(item) });
      return fc.array(items, { minLength, maxLength });
    }
    case "object": {
      const properties = schema.properties ?? {};
      if (Object.keys(properties).length === 0 && typeof schema.additionalProperties === "object") {
        return fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fromSchema(schema.additionalProperties, caps, field), {
          maxKeys: 3,
        });
      }
      const required = new Set(schema.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, value] of Object.entries(properties)) record[key] = fromSchema(value, caps, key);
      return fc.record(record, { requiredKeys: [...required] });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/**
 * fast-check arbitrary of bodies that break the schema in one way: a required field dropped, an
 * unknown field added, a field of the wrong type, or not an object at all.
 */
export function invalidArbitrary(schema: z.ZodMiniType, caps: Partial<Caps> = {}): fc.Arbitrary<unknown> {
  const valid = validArbitrary(schema, caps);
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const keys = Object.keys(json.properties ?? {});
  const required = json.required ?? [];
  const mutations: fc.Arbitrary<unknown>[] = [
    fc.tuple(valid, fc.constantFrom("lora_rank", "prompt_text", "__proto_", "maxTokens")).map(([value, key]) => ({
      ...(value as object),
      [key]: 1,
    })),
    fc.oneof(fc.constant(null), fc.integer(), fc.string(), fc.array(fc.integer(), { maxLength: 3 })),
  ];
  if (required.length > 0) {
    mutations.push(
      fc.tuple(valid, fc.constantFrom(...required)).map(([value, key]) => {
        const copy = { ...(value as Record<string, unknown>) };
        delete copy[key];
        return copy;
      }),
    );
  }
  if (keys.length > 0) {
    mutations.push(
      fc
        .tuple(valid, fc.constantFrom(...keys), fc.constantFrom<unknown>({ nested: true }, [[1]], "NaN", -1e12, true))
        .map(([value, key, wrong]) => ({ ...(value as object), [key]: wrong })),
    );
  }
  // Only keep values the schema really rejects (a wrong type can happen to be allowed).
  return fc.oneof(...mutations).filter((value) => !schema.safeParse(value).success || hasUnknownKey(value, json));
}

function hasUnknownKey(value: unknown, json: JsonSchema): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const known = new Set(Object.keys(json.properties ?? {}));
  return Object.keys(value).some((k) => !known.has(k));
}
