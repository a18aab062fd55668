import { readFileSync } from "node:fs";
import fc from "fast-check";
import { parse } from "yaml";
import type { z } from "zod/mini";
import { describe, expect, it } from "vitest";
import * as gen from "../../generated/zod/zod.gen.js";
import { checkAgainst } from "../../src/internal/validate.js";
import { validArbitrary } from "../helpers/schema-arbitrary.js";

// Walks openapi/signal.yaml and, for every constraint keyword on a schema, builds a value that
// breaks that one keyword and checks the generated validator of the same node refuses it. A
// keyword the zod plugin drops (it dropped `maxProperties`, so 15 000 metadata keys were taken)
// fails here, naming the node, until scripts/dropped-constraints.mjs adds it.

type Node = Record<string, any>;
const spec = parse(readFileSync(new URL("../../openapi/signal.yaml", import.meta.url), "utf8")) as Node;

interface Def {
  type: string;
  innerType?: z.ZodMiniType;
  shape?: Record<string, z.ZodMiniType>;
  element?: z.ZodMiniType;
  valueType?: z.ZodMiniType;
  options?: z.ZodMiniType[];
}

/** The schema under `optional`, `default` and `nullable`. */
function unwrap(schema: z.ZodMiniType): z.ZodMiniType {
  let s = schema;
  for (;;) {
    const def = s._zod.def as unknown as Def;
    if (!["optional", "default", "prefault", "nullable", "readonly"].includes(def.type) || !def.innerType) return s;
    s = def.innerType;
  }
}
const defOf = (schema: z.ZodMiniType) => unwrap(schema)._zod.def as unknown as Def;

/** A value the generated schema accepts (the first fast-check draws), to fill arrays and records with. */
function validOf(schema: z.ZodMiniType): unknown {
  return fc.sample(validArbitrary(schema, { maxItems: 2 }), { numRuns: 1, seed: 1 })[0];
}

interface Case {
  where: string;
  keyword: string;
  schema: z.ZodMiniType;
  value: unknown;
}

/** A value breaking each constraint of `node` alone, with the generated schema of the same node. */
function violations(node: Node, schema: z.ZodMiniType, where: string): Case[] {
  const out: Case[] = [];
  const add = (keyword: string, value: unknown) => out.push({ where, keyword, schema: unwrap(schema), value });
  const def = defOf(schema);
  const types: string[] = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
  if (types.includes("string")) {
    if (node.maxLength !== undefined) add("maxLength", "a".repeat(node.maxLength + 1));
    if (node.minLength > 0) add("minLength", "a".repeat(node.minLength - 1));
    if (node.pattern !== undefined) {
      const miss = ["", " ", "\u0000", "!", "a".repeat(300)].find((s) => !new RegExp(node.pattern, "u").test(s));
      if (miss !== undefined) add("pattern", miss);
    }
  }
  if (types.includes("integer") || types.includes("number")) {
    if (node.maximum !== undefined) add("maximum", node.maximum + 1);
    if (node.minimum !== undefined) add("minimum", node.minimum - 1);
    if (node.exclusiveMaximum !== undefined) add("exclusiveMaximum", node.exclusiveMaximum);
    if (node.exclusiveMinimum !== undefined) add("exclusiveMinimum", node.exclusiveMinimum);
  }
  if (Array.isArray(node.enum) && node.enum.every((v: unknown) => typeof v === "string")) add("enum", "\u0000not-a-member");
  if (types.includes("array") && def.element) {
    const item = validOf(def.element);
    if (node.maxItems !== undefined) add("maxItems", Array(node.maxItems + 1).fill(item));
    if (node.minItems > 0) add("minItems", Array(node.minItems - 1).fill(item));
    if (node.uniqueItems === true) add("uniqueItems", [item, item]);
  }
  if (types.includes("object") && def.valueType) {
    const value = validOf(def.valueType);
    const entries = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key${i}`, value]));
    if (node.maxProperties !== undefined) add("maxProperties", entries(node.maxProperties + 1));
    if (node.minProperties > 0) add("minProperties", entries(node.minProperties - 1));
  }
  return out;
}

/** Every constraint under `node` (not following `$ref`: each component is walked on its own). */
function walk(node: Node, schema: z.ZodMiniType, where: string): Case[] {
  if (node.$ref !== undefined) return [];
  const def = defOf(schema);
  const cases = violations(node, schema, where);
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Node>)) {
    const sub = def.shape?.[name];
    if (!sub) throw new Error(`${where}: the generated schema has no property ${name}`);
    cases.push(...walk(child, sub, `${where}.${name}`));
  }
  if (node.items && def.element) cases.push(...walk(node.items, def.element, `${where}[]`));
  if (typeof node.additionalProperties === "object" && def.valueType) cases.push(...walk(node.additionalProperties, def.valueType, `${where}{}`));
  // A `null` branch is the generated schema's `nullable`, not one of its union's options.
  const branches = ((node.oneOf ?? node.anyOf ?? []) as Node[]).filter((branch) => branch.type !== "null");
  branches.forEach((branch, i) => {
    // One branch left is no union: the generated schema is that branch.
    const option = branches.length === 1 && def.type !== "union" ? schema : def.options?.[i];
    if (!option) throw new Error(`${where}: the generated schema has no union branch ${i}`);
    cases.push(...walk(branch, option, `${where}|${i}`));
  });
  return cases;
}

const generated = gen as unknown as Record<string, z.ZodMiniType>;
const cases: Case[] = [];
for (const [name, node] of Object.entries(spec.components.schemas as Record<string, Node>)) {
  const schema = generated[`z${name}`];
  if (!schema) throw new Error(`no generated schema z${name} for #/components/schemas/${name}`);
  cases.push(...walk(node, schema, name));
}
for (const [name, parameter] of Object.entries(spec.components.parameters as Record<string, Node>)) {
  const schema = generated[`z${name}Path`] ?? generated[`z${name}Query`];
  if (schema) cases.push(...walk(parameter.schema, schema, `parameter ${parameter.name}`));
}

describe("the generated validators enforce every constraint of the spec", () => {
  it("finds the constraints (the walk reaches the spec's schemas)", () => {
    const keywords = new Set(cases.map((c) => c.keyword));
    for (const keyword of ["maxLength", "maxItems", "maxProperties", "uniqueItems", "minimum", "maximum", "pattern", "enum"])
      expect(keywords).toContain(keyword);
    expect(cases.length).toBeGreaterThan(100);
  });

  it("refuses a value that breaks any one of them", () => {
    const accepted = cases.filter((c) => checkAgainst(c.schema, c.value).ok).map((c) => `${c.where}: ${c.keyword}`);
    expect(accepted).toEqual([]);
  });
});
