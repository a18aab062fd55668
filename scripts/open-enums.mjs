// The extensible enum types of generated/schema.d.ts. A server may add a value to an enum it
// returns (a new run `status`, a new `finish_reason`) without breaking this SDK: the tolerant
// reader (src/internal/tolerant-reader.ts) passes an unknown value through as a string, and the
// type says so: `"active" | (string & {})` keeps the known values in autocompletion and admits
// any other string. Request-side enums stay closed: the server only accepts the listed values.
//
// Which side a schema is on comes from the spec: a component reachable from a request body or a
// parameter is request-side; one reachable only from responses (or from nothing, like the SSE
// chunk) is response-side. A shared enum component (e.g. CheckpointMode, sent in
// createCheckpoint and returned in Checkpoint) stays closed as a type, and every reference to it
// from a response-side schema is widened instead. The single-value `object` tags (`"run"`,
// `"list"`) name the resource and stay closed on both sides, as in the runtime reader.
import ts from "typescript";

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const componentOf = (ref) => /^#\/components\/schemas\/([^/]+)$/.exec(ref)?.[1]?.replace(/~1/g, "/").replace(/~0/g, "~");

function collectRefs(node, out) {
  if (Array.isArray(node)) node.forEach((item) => collectRefs(item, out));
  else if (node && typeof node === "object") {
    if (typeof node.$ref === "string") out.add(node.$ref);
    for (const value of Object.values(node)) collectRefs(value, out);
  }
  return out;
}

/** Component schema names reachable from `roots` (following $refs, also through responses/parameters). */
export function reachable(spec, roots) {
  const seen = new Set();
  const queue = [...collectRefs(roots, new Set())];
  while (queue.length > 0) {
    const ref = queue.pop();
    if (seen.has(ref)) continue;
    seen.add(ref);
    const target = ref
      .replace(/^#\//, "")
      .split("/")
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
      .reduce((at, key) => at?.[key], spec);
    for (const next of collectRefs(target, new Set())) queue.push(next);
  }
  return new Set([...seen].map(componentOf).filter(Boolean));
}

/** The sides of every component schema of `spec`. */
export function schemaSides(spec) {
  const requestRoots = [];
  for (const item of Object.values(spec.paths ?? {})) {
    requestRoots.push(item?.parameters);
    for (const method of METHODS) {
      if (item?.[method]) requestRoots.push(item[method].parameters, item[method].requestBody);
    }
  }
  const request = reachable(spec, requestRoots);
  const all = Object.keys(spec.components?.schemas ?? {});
  const isEnum = (name) => Array.isArray(spec.components.schemas[name]?.enum);
  return {
    /** Reachable from no request: every enum in it is open. */
    responseOnly: new Set(all.filter((name) => !request.has(name))),
    /** Enum components also sent in requests: closed, widened where a response-side schema refers to them. */
    sharedEnums: new Set(all.filter((name) => request.has(name) && isEnum(name))),
  };
}

const OPEN_STRING = ts.factory.createParenthesizedType(
  ts.factory.createIntersectionTypeNode([ts.factory.createKeywordTypeNode(ts.SyntaxKind.StringKeyword), ts.factory.createTypeLiteralNode([])]),
);

// openapi-typescript renders a string literal type as an identifier whose text is the quoted value.
const isStringLiteral = (node) => (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) || (ts.isIdentifier(node) && node.text.startsWith('"'));
const isNullLiteral = (node) => ts.isLiteralTypeNode(node) && node.literal.kind === ts.SyntaxKind.NullKeyword;

/** A union of string literals (maybe with null), as openapi-typescript renders an enum. */
function isEnumNode(node) {
  if (isStringLiteral(node)) return true;
  return ts.isUnionTypeNode(node) && node.types.some(isStringLiteral) && node.types.every((t) => isStringLiteral(t) || isNullLiteral(t));
}

/** `components["schemas"]["Name"]` → Name. */
function refName(node) {
  if (!ts.isIndexedAccessTypeNode(node) || !ts.isLiteralTypeNode(node.indexType) || !ts.isStringLiteral(node.indexType.literal)) return undefined;
  const inner = node.objectType;
  if (!ts.isIndexedAccessTypeNode(inner) || !ts.isLiteralTypeNode(inner.indexType) || inner.indexType.literal.text !== "schemas") return undefined;
  return node.indexType.literal.text;
}

const widen = (node) => ts.factory.createUnionTypeNode([...(ts.isUnionTypeNode(node) ? node.types : [node]), OPEN_STRING]);

/** Widens every reference to a shared enum inside a response-side type. */
function widenSharedRefs(node, sharedEnums) {
  const visit = (current) => {
    const name = refName(current);
    if (name !== undefined && sharedEnums.has(name)) return widen(current);
    if (name !== undefined) return current;
    return ts.visitEachChild(current, visit, undefined);
  };
  return visit(node);
}

function isResponseSide(path, sides) {
  if (/^#\/paths\/[^/]+\/[^/]+\/responses\//.test(path) || path.startsWith("#/components/responses/")) return true;
  const name = /^#\/components\/schemas\/([^/]+)/.exec(path)?.[1];
  return name !== undefined && sides.responseOnly.has(name);
}

/** The `postTransform` hook of openapi-typescript that opens response-side enums. */
export function openResponseEnums(spec) {
  const sides = schemaSides(spec);
  return (type, options) => {
    const path = options.path ?? "";
    if (!isResponseSide(path, sides)) return undefined;
    const isTag = /\/object$/.test(path) && isStringLiteral(type);
    if (isEnumNode(type) && !isTag) return widen(type);
    // Whole response-side schemas (a component, or a schema written inline under a response):
    // the place to widen references to shared enums, once.
    if (/^#\/components\/schemas\/[^/]+$/.test(path) || /\/content\/[^/]+$/.test(path)) return widenSharedRefs(type, sides.sharedEnums);
    return undefined;
  };
}
