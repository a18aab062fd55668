// Adds to generated/zod/zod.gen.ts the constraints of openapi/signal.yaml that the zod plugin of
// @hey-api/openapi-ts drops: `maxProperties` and `minProperties` of an object, `uniqueItems` of
// an array. Each becomes a refinement of the record or array it is on, with a message in the
// words of the other checks' (`Too big: expected object to have <=16 properties`). Only a
// component schema that is itself a record or an array (`RunMetadata`) and a direct property of
// a component schema are supported; anywhere else the generator stops, naming it, so a new use
// cannot pass silently. test/contract/the-validators-enforce-every-constraint-
// of-the-spec.test.ts proves the result against the spec. Called by scripts/generate.mjs.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

const DROPPED = ["maxProperties", "minProperties", "uniqueItems"];

/** The refinement for one dropped keyword. */
function refinement(keyword, value) {
  if (keyword === "maxProperties")
    return `z.refine((v) => Object.keys(v).length <= ${value}, { error: "Too big: expected object to have <=${value} properties", abort: true })`;
  if (keyword === "minProperties")
    return `z.refine((v) => Object.keys(v).length >= ${value}, { error: "Too small: expected object to have >=${value} properties", abort: true })`;
  return `z.refine((v) => new Set(v.map((item) => JSON.stringify(item))).size === v.length, { error: "Invalid input: expected unique items", abort: true })`;
}

/** Index just past the parenthesis that closes the one at `open`. */
function closing(text, open) {
  let depth = 0;
  let quote;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === "`") quote = c;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i + 1;
  }
  throw new Error("dropped-constraints: unbalanced parentheses in zod.gen.ts");
}

/**
 * Every node of the spec carrying a dropped keyword, as [component, property, keyword, value]
 * (`property` undefined for the component itself); throws for one elsewhere.
 */
function droppedConstraints(spec) {
  const found = [];
  const misplaced = [];
  const visit = (node, where, direct) => {
    if (node === null || typeof node !== "object") return;
    if (!Array.isArray(node)) {
      for (const keyword of DROPPED) {
        if (node[keyword] === undefined || node[keyword] === false) continue;
        if (direct) found.push([...direct, keyword, node[keyword]]);
        else misplaced.push(`${where} (${keyword})`);
      }
    }
    for (const [key, child] of Object.entries(node)) visit(child, `${where}/${key}`, undefined);
  };
  for (const [name, schema] of Object.entries(spec.components?.schemas ?? {})) {
    for (const keyword of DROPPED) {
      if (schema[keyword] === undefined || schema[keyword] === false) continue;
      if (schema.properties === undefined) found.push([name, undefined, keyword, schema[keyword]]);
      else misplaced.push(`#/components/schemas/${name} (${keyword})`);
    }
    for (const [key, child] of Object.entries(schema)) {
      if (key !== "properties") visit(child, `#/components/schemas/${name}/${key}`, undefined);
    }
    for (const [property, node] of Object.entries(schema.properties ?? {})) {
      visit(node, `#/components/schemas/${name}/properties/${property}`, [name, property]);
    }
  }
  for (const [path, item] of Object.entries(spec.paths ?? {})) visit(item, `#/paths/${path}`, undefined);
  if (misplaced.length > 0) {
    throw new Error(
      `dropped-constraints: only a record or array component schema or a direct property of a component schema can carry these keywords; found: ${misplaced.join(", ")}`,
    );
  }
  return found;
}

/** @param {string} root the repository root */
export function addDroppedConstraints(root) {
  const spec = parse(readFileSync(join(root, "openapi/signal.yaml"), "utf8"));
  const file = join(root, "generated/zod/zod.gen.ts");
  let text = readFileSync(file, "utf8");
  for (const [component, property, keyword, value] of droppedConstraints(spec)) {
    if (property === undefined) {
      const head = `export const z${component} = z.`;
      const at = text.indexOf(head);
      if (at < 0 || !/^(record|array)\(/.test(text.slice(at + head.length))) throw new Error(`dropped-constraints: z${component} is not a record or an array`);
      let after = closing(text, text.indexOf("(", at + head.length));
      while (text.startsWith(".check(", after)) after = closing(text, after + ".check".length);
      text = `${text.slice(0, after)}.check(${refinement(keyword, value)})${text.slice(after)}`;
      continue;
    }
    const start = text.indexOf(`export const z${component} = z.object({`);
    if (start < 0) throw new Error(`dropped-constraints: zod.gen.ts has no object z${component}`);
    const end = closing(text, text.indexOf("(", start));
    const line = text.indexOf(`\n    ${property}: `, start);
    if (line < 0 || line > end) throw new Error(`dropped-constraints: z${component} has no property ${property}`);
    const container = /z\.(record|array)\(/g;
    container.lastIndex = line;
    const match = container.exec(text);
    if (!match || match.index > text.indexOf("\n", line + 1)) throw new Error(`dropped-constraints: z${component}.${property} is not a record or an array`);
    let after = closing(text, match.index + match[0].length - 1);
    while (text.startsWith(".check(", after)) after = closing(text, after + ".check".length);
    text = `${text.slice(0, after)}.check(${refinement(keyword, value)})${text.slice(after)}`;
  }
  writeFileSync(file, text);
}
