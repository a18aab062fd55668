// Optional fields of the spec's schemas typed `T | undefined` in generated/schema.d.ts. An app
// compiled with `exactOptionalPropertyTypes` can then pass a field whose value may be undefined
// (`createRun({ base_model, lora_r: maybe })`); at run time an undefined field is left out of
// the JSON body, as if it had not been given. Only `components.schemas` is rewritten: the
// `?: never` markers of `paths`/`operations` are what openapi-fetch's types read.
import ts from "typescript";

const withUndefined = (type) =>
  ts.isUnionTypeNode(type) && type.types.some((t) => t.kind === ts.SyntaxKind.UndefinedKeyword)
    ? type
    : ts.factory.createUnionTypeNode([...(ts.isUnionTypeNode(type) ? type.types : [type]), ts.factory.createKeywordTypeNode(ts.SyntaxKind.UndefinedKeyword)]);

function optionalFields(context) {
  const visit = (node) => {
    if (ts.isPropertySignature(node) && node.questionToken && node.type && node.type.kind !== ts.SyntaxKind.NeverKeyword) {
      const inner = ts.visitEachChild(node, visit, context);
      return ts.factory.updatePropertySignature(inner, inner.modifiers, inner.name, inner.questionToken, withUndefined(inner.type));
    }
    return ts.visitEachChild(node, visit, context);
  };
  return visit;
}

/** The openapi-typescript AST with every optional property under `components.schemas` typed `T | undefined`. */
export function optionalAcceptsUndefined(nodes) {
  return nodes.map((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== "components") return node;
    const members = node.members.map((member) => {
      const name = member.name && (ts.isIdentifier(member.name) || ts.isStringLiteral(member.name)) ? member.name.text : undefined;
      if (name !== "schemas" || !member.type) return member;
      const [type] = ts.transform(member.type, [optionalFields]).transformed;
      return ts.factory.updatePropertySignature(member, member.modifiers, member.name, member.questionToken, type);
    });
    return ts.factory.updateInterfaceDeclaration(node, node.modifiers, node.name, node.typeParameters, node.heritageClauses, members);
  });
}
