// Gives every schema of the spec a named type in generated/schema.d.ts.
//
// openapi-typescript puts each schema's type inline in `components["schemas"]`; its root
// types (`type Run = components["schemas"]["Run"]`) are aliases of an indexed access, which
// editors expand: a hover of a run read `{ ...; run_id: components["schemas"]["RunId"]; ... }`.
// This step moves each schema's type out into `export interface Run { ... }` (objects) or
// `export type RunId = ...` (anything else), points `components["schemas"]["Run"]` at it and
// writes every reference as the bare name, so hovers and error messages read `Run`,
// `Checkpoint`, `SampleResult`. It runs inside `npm run generate`: the output is never edited.
import { readFileSync, writeFileSync } from "node:fs";
import ts from "typescript";

const REF = /components\["schemas"\]\["([A-Za-z0-9_]+)"\]/g;

/** Rewrites `file` (the openapi-typescript output) in place. */
export function nameSchemaTypes(file) {
  const text = readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const components = source.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === "components");
  const schemas = components?.members.find((m) => ts.isPropertySignature(m) && m.name.getText(source) === "schemas");
  if (!schemas?.type || !ts.isTypeLiteralNode(schemas.type)) throw new Error(`name-schema-types: no components.schemas in ${file}`);

  const declarations = [];
  const edits = [];
  for (const member of schemas.type.members) {
    if (!ts.isPropertySignature(member) || !member.type) continue;
    const name = member.name.getText(source).replace(/^"|"$/g, "");
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`name-schema-types: schema name ${name} is not an identifier`);
    const column = source.getLineAndCharacterOfPosition(member.getStart(source)).character;
    const docs = ts
      .getJSDocCommentsAndTags(member)
      .filter(ts.isJSDoc)
      .map((d) => dedent(d.getText(source), column))
      .join("\n");
    const body = dedent(text.slice(member.type.getStart(source), member.type.end), column);
    const declaration = ts.isTypeLiteralNode(member.type) ? `export interface ${name} ${body}` : `export type ${name} = ${body};`;
    declarations.push((docs ? `${docs}\n` : "") + declaration);
    edits.push({ start: member.type.getStart(source), end: member.type.end, replacement: name });
  }
  let out = text;
  for (const edit of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, edit.start) + edit.replacement + out.slice(edit.end);
  // The root-type aliases of schemas are now the declarations themselves.
  out = out.replace(/^export type ([A-Za-z0-9_]+) = components\['schemas'\]\['\1'\];\n/gm, "");
  out = `${out.trimEnd()}\n\n${declarations.join("\n\n")}\n`;
  writeFileSync(file, out.replace(REF, "$1"));
}

/** Removes the indentation (`column` spaces) the member had inside `components.schemas`. */
function dedent(block, column) {
  const [first, ...rest] = block.split("\n");
  return [first, ...rest.map((line) => line.slice(Math.min(column, line.match(/^ */)[0].length)))].join("\n");
}
