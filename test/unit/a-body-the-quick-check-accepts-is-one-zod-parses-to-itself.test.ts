import { describe, expect, it } from "vitest";
import type * as core from "zod/v4/core";
import * as z from "zod/mini";
import { OPERATIONS } from "../../generated/operations.js";
import { fastCheck } from "../../src/internal/fast-check.js";
import { tolerantSchema } from "../../src/internal/tolerant-reader.js";
import { mulberry32 } from "../helpers/mulberry32.js";

/**
 * The SDK uses a 2xx body as it is when the schema's quick check (fast-check.ts) accepts it, so
 * the check must never accept what zod would refuse or change. For every response schema of the
 * spec (as the tolerant reader reads it) and every path/query parameter: random valid values and
 * random corruptions of them; each one the quick check accepts must be one zod parses
 * successfully to an equal value. And the quick check must accept the valid values (or it would
 * be dead code, and every body would pay for zod).
 */

type Def = Record<string, unknown> & { type: string; checks?: core.$ZodCheck[] };

const defOf = (schema: core.$ZodType) => schema._zod.def as unknown as Def;
const checksOf = (def: Def) => (def.checks ?? []).map((check) => check._zod.def as unknown as Record<string, unknown>);

/** Strings that fit the spec's patterns (ids, timestamps); one is picked when a pattern must match. */
const PATTERNED = [
  "run_abcdefgh1234",
  "run_0123456789abcdefghij",
  "2026-12-06T05:20:51.894Z",
  "2024-02-29T23:59:59+02:00",
  "ckpt_abcdefgh1234",
  "req_0123456789abcdef",
];

function valid(schema: core.$ZodType, next: () => number, depth = 0): unknown {
  const def = defOf(schema);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  switch (def.type) {
    case "unknown":
    case "any":
      return pick([1, "x", null, true, { a: [1] }]);
    case "null":
      return null;
    case "boolean":
      return next() < 0.5;
    case "number": {
      let low = -1e6;
      let high = 1e6;
      for (const check of checksOf(def)) {
        if (check.check === "greater_than") low = Math.max(low, (check.value as number) + (check.inclusive ? 0 : 1e-3));
        if (check.check === "less_than") high = Math.min(high, (check.value as number) - (check.inclusive ? 0 : 1e-3));
      }
      const value = low + next() * (high - low);
      return def.format === "safeint" ? Math.min(Math.ceil(value), Math.floor(high)) : value;
    }
    case "string": {
      const patterns = [def.pattern, ...checksOf(def).map((check) => check.pattern)].filter((p): p is RegExp => p instanceof RegExp);
      const max = Math.min(...checksOf(def).map((check) => (check.check === "max_length" ? (check.maximum as number) : Number.POSITIVE_INFINITY)));
      if (patterns.length > 0) return PATTERNED.find((candidate) => patterns.every((p) => p.test(candidate))) ?? "no-match";
      return pick(["", "a", "some text", "ünïcode ✓", "x".repeat(40)]).slice(0, Number.isFinite(max) ? max : undefined);
    }
    case "enum":
      return pick(Object.values(def.entries as Record<string, unknown>));
    case "literal":
      return pick(def.values as unknown[]);
    case "optional":
      return next() < 0.2 ? undefined : valid(def.innerType as core.$ZodType, next, depth);
    case "nullable":
      return next() < 0.3 ? null : valid(def.innerType as core.$ZodType, next, depth);
    case "array": {
      const length = depth > 3 ? 0 : Math.floor(next() * 4);
      return Array.from({ length }, () => valid(def.element as core.$ZodType, next, depth + 1));
    }
    case "record": {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 3); i > 0; i--) out[pick(["k", "label", "a b"])] = valid(def.valueType as core.$ZodType, next, depth + 1);
      return out;
    }
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [name, field] of Object.entries(def.shape as Record<string, core.$ZodType>)) {
        const value = valid(field, next, depth + 1);
        if (value !== undefined) out[name] = value;
      }
      if (next() < 0.3) out.added_by_a_newer_server = pick([1, "new", { nested: true }]);
      return out;
    }
    case "union":
      return valid(pick(def.options as core.$ZodType[]), next, depth);
    default:
      throw new Error(`no generator for ${def.type}`);
  }
}

/** The value with one place replaced by something else (or a key removed / added). */
function corrupt(value: unknown, next: () => number): unknown {
  const wrong = [
    null,
    undefined,
    0,
    -1,
    1.5,
    2 ** 53,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    "",
    "x".repeat(70_000),
    "2026-02-30T00:00:00Z",
    true,
    [],
    {},
    [1, "a"],
    { object: "run" },
  ];
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  if (typeof value !== "object" || value === null || next() < 0.15) return pick(wrong);
  if (Array.isArray(value)) {
    if (value.length === 0) return [pick(wrong)];
    const copy = [...value];
    const at = Math.floor(next() * copy.length);
    copy[at] = corrupt(copy[at], next);
    return copy;
  }
  const copy: Record<string, unknown> = { ...value };
  const keys = Object.keys(copy);
  const roll = next();
  if (roll < 0.1) {
    const rest = JSON.stringify(copy).slice(1);
    return JSON.parse(`{"__proto__": {"polluted": 1}${rest === "}" ? "" : ", "}${rest}`);
  }
  if (roll < 0.2 && keys.length > 0) delete copy[pick(keys)];
  else if (keys.length > 0) {
    const key = pick(keys);
    copy[key] = corrupt(copy[key], next);
  }
  return copy;
}

function holds(name: string, schema: core.$ZodType, seed: number): { accepted: number; valid: number } {
  const quick = fastCheck(schema);
  expect(quick, `${name} has a quick check`).toBeDefined();
  const next = mulberry32(seed); // deterministic, so a failure reproduces
  let accepted = 0;
  let validCount = 0;
  for (let i = 0; i < 150; i++) {
    const good = JSON.parse(JSON.stringify({ v: valid(schema, next) })).v as unknown;
    const candidates = [good, corrupt(good, next), corrupt(good, next), corrupt(corrupt(good, next), next)];
    for (const [index, value] of candidates.entries()) {
      const parsed = z.safeParse(schema, value);
      if (index === 0 && parsed.success) {
        validCount++;
        // A valid JSON value the quick check refuses would be parsed by zod every time.
        expect(quick!(value), `${name}: the quick check accepts ${JSON.stringify(value)}`).toBe(true);
      }
      if (quick!(value)) {
        accepted++;
        expect(parsed.success, `${name}: the quick check accepted ${JSON.stringify(value)}, zod refuses it`).toBe(true);
        expect(parsed.data, `${name}: zod parses ${JSON.stringify(value)} to something else`).toStrictEqual(value);
      }
    }
  }
  return { accepted, valid: validCount };
}

describe("the quick check of every response schema", () => {
  const operations = Object.values(OPERATIONS).filter((operation) => operation.response !== undefined);

  it("covers every JSON response of the spec", () => {
    expect(operations.length).toBeGreaterThan(20);
  });

  for (const operation of operations) {
    it(`${operation.operationId}: accepts only what zod parses to itself, and the valid values`, () => {
      const { accepted, valid: validCount } = holds(operation.operationId, tolerantSchema(operation.response!), operation.operationId.length * 7919);
      expect(validCount).toBeGreaterThan(100);
      expect(accepted).toBeGreaterThanOrEqual(validCount);
    });
  }

  it("has none for a schema that would drop unknown fields (strict response validation)", () => {
    expect(fastCheck(OPERATIONS.getRun.response!)).toBeUndefined();
  });
});

describe("the quick check of path and query parameters", () => {
  for (const operation of Object.values(OPERATIONS)) {
    for (const part of ["params", "query"] as const) {
      const schema = operation[part];
      if (schema === undefined) continue;
      const shape = (defOf(schema).shape ?? {}) as Record<string, core.$ZodType>;
      for (const [field, leaf] of Object.entries(shape)) {
        const inner = defOf(leaf).type === "optional" ? (defOf(leaf).innerType as core.$ZodType) : leaf;
        if (fastCheck(inner) === undefined) continue;
        it(`${operation.operationId} ${part}.${field}: accepts only what zod accepts as it is`, () => {
          holds(`${operation.operationId}.${field}`, inner, field.length * 104729);
        });
      }
    }
  }
});
