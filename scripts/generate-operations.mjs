// Writes generated/operations.ts from openapi/signal.yaml: for every operation, its method,
// path template, whether it needs the API key, its tags, the generated zod validators of its path
// parameters, query, body and JSON response, and the TypeScript types of what a call sends and
// gets back; then, apart, each declared status's content types, headers and (for error
// statuses) the spec's example body. The SDK's typed calls (src/internal/call-operation.ts), the
// server's routes and request validation, `frontier-signal/testing` and the contract and fuzz
// suites all read it; nothing in it is written by hand. Called by scripts/generate.mjs (after
// the zod plugin, whose schema names it checks; generate.mjs adds the do-not-edit header).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

const METHODS = ["get", "post", "put", "patch", "delete"];

/** The TypeScript type of a scalar schema (a query parameter's), or undefined for anything else. */
function scalarType(schema) {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  return { integer: "number", number: "number", string: "string", boolean: "boolean" }[schema.type];
}

/** @param {string} root the repository root */
export function generateOperations(root) {
  const spec = parse(readFileSync(join(root, "openapi/signal.yaml"), "utf8"));
  const zodNames = new Set([...readFileSync(join(root, "generated/zod/zod.gen.ts"), "utf8").matchAll(/^export const (z\w+) =/gm)].map((m) => m[1]));
  const resolve = (node) => {
    if (node && typeof node.$ref === "string") {
      const target = node.$ref
        .replace(/^#\//, "")
        .split("/")
        .reduce((at, key) => at?.[key], spec);
      if (target === undefined) throw new Error(`generate-operations: unresolved ${node.$ref}`);
      return resolve(target);
    }
    return node;
  };
  const exampleOf = (media) => {
    if (!media) return undefined;
    if (media.example !== undefined) return media.example;
    const first = Object.values(media.examples ?? {})[0];
    return first === undefined ? undefined : resolve(first).value;
  };
  const pascal = (id) => id[0].toUpperCase() + id.slice(1);
  /** The zod plugin's schema for one part of an operation, which must exist when the spec has the part. */
  const zodOf = (id, part, expected) => {
    const name = `z${pascal(id)}${part}`;
    if (zodNames.has(name) !== expected) {
      throw new Error(
        `generate-operations: ${id} ${expected ? "has" : "has no"} ${part.toLowerCase()} in the spec but zod.gen.ts ${expected ? "lacks" : "has"} ${name}`,
      );
    }
    return expected ? name : undefined;
  };

  // Error responses are shared components: their examples are written once and referenced.
  const shared = {};
  const ids = [];
  const definitions = [];
  const responseLines = [];
  const requestTypes = [];
  const resultTypes = [];
  const queryTypes = [];
  const imports = new Set();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const id = op.operationId;
      if (!/^[a-z][A-Za-z0-9]*$/.test(id)) throw new Error(`generate-operations: operationId ${id} is not camelCase`);
      ids.push(id);
      const parameters = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(resolve);
      const pathParams = parameters.filter((p) => p.in === "path");
      const queryParams = parameters.filter((p) => p.in === "query");
      const body = op.requestBody ? resolve(op.requestBody) : undefined;
      if (body && !body.content?.["application/json"]) throw new Error(`generate-operations: ${id}'s body is not application/json`);
      const success = Object.entries(op.responses).filter(([status]) => status.startsWith("2"));
      if (success.length !== 1) throw new Error(`generate-operations: ${id} declares ${success.length} 2xx responses; the SDK expects one`);
      const [successStatus, successRaw] = success[0];
      const successContent = resolve(successRaw).content ?? {};
      const json = "application/json" in successContent;

      const validators = {
        params: zodOf(id, "Path", pathParams.length > 0),
        query: zodOf(id, "Query", queryParams.length > 0),
        body: zodOf(id, "Body", body !== undefined),
        response: json ? zodOf(id, "Response", true) : undefined,
      };
      for (const name of Object.values(validators)) if (name) imports.add(name);
      const security = op.security ?? spec.security ?? [];
      definitions.push(
        `/** \`${method.toUpperCase()} ${path}\`${op.summary ? `: ${op.summary.replace(/\*\//g, "*\\/")}` : ""} */`,
        `export const ${id}Operation = {`,
        `  operationId: "${id}",`,
        `  method: "${method.toUpperCase()}",`,
        `  path: "${path}",`,
        `  secured: ${security.length > 0},`,
        `  tags: ${JSON.stringify(op.tags ?? [])},`,
        `  successStatus: ${Number(successStatus)},`,
        `  params: ${validators.params ?? "undefined"},`,
        `  query: ${validators.query ?? "undefined"},`,
        `  body: ${validators.body ?? "undefined"},`,
        `  bodyRequired: ${body?.required === true},`,
        `  response: ${validators.response ?? "undefined"},`,
        "} as const;",
        "",
      );

      const responses = [];
      for (const [status, raw] of Object.entries(op.responses)) {
        const response = resolve(raw);
        const content = response.content ?? {};
        const fields = [
          `contentTypes: ${JSON.stringify(Object.keys(content))}`,
          `headers: ${JSON.stringify(Object.keys(response.headers ?? {}).map((h) => h.toLowerCase()))}`,
        ];
        const example = status.startsWith("2") ? undefined : exampleOf(content["application/json"]);
        if (example !== undefined) {
          const name = typeof raw.$ref === "string" ? raw.$ref.split("/").pop() : `${id}_${status}`;
          shared[name] = example;
          fields.push(`example: RESPONSE_EXAMPLES.${name}`);
        }
        responses.push(`    "${status}": { ${fields.join(", ")} },`);
      }
      responseLines.push(`  ${id}: {`, ...responses, "  },");

      // Types: what a call sends (path, query, body) and the 2xx body.
      const parts = [];
      if (pathParams.length > 0) parts.push(`path: operations["${id}"]["parameters"]["path"]`);
      if (queryParams.length > 0) {
        const name = `${pascal(id)}Query`;
        parts.push(`query?: ${name}`);
        const fields = queryParams.map((p) => {
          const schema = resolve(p.schema ?? {});
          const doc = [p.description, schema.default !== undefined ? `@default ${JSON.stringify(schema.default)}` : undefined]
            .concat(schema.minimum !== undefined || schema.maximum !== undefined ? [`Range ${schema.minimum ?? "-∞"}..${schema.maximum ?? "∞"}.`] : [])
            .filter(Boolean)
            .join(" ")
            .replace(/\s+/g, " ")
            .replace(/\*\//g, "*\\/");
          const type = scalarType(schema) ?? `NonNullable<operations["${id}"]["parameters"]["query"]>["${p.name}"]`;
          return `  /** ${doc} */\n  ${p.name}${p.required ? "" : "?"}: ${type}${p.required ? "" : " | undefined"};`;
        });
        queryTypes.push(`/** The query of \`${id}\` (${method.toUpperCase()} ${path}). */`, `export interface ${name} {`, ...fields, "}", "");
      }
      if (body) {
        const type = `NonNullable<operations["${id}"]["requestBody"]>["content"]["application/json"]`;
        parts.push(body.required ? `body: ${type}` : `body?: ${type}`);
      }
      requestTypes.push(parts.length > 0 ? `  ${id}: { ${parts.join("; ")} };` : `  ${id}: Record<string, never>;`);
      resultTypes.push(
        json
          ? `  ${id}: operations["${id}"]["responses"][${successStatus}]["content"]["application/json"];`
          : `  /** ${Object.keys(successContent).join(", ")}: the body's bytes. */\n  ${id}: Uint8Array;`,
      );
    }
  }
  const examples = Object.entries(shared).map(([name, body]) => `  ${name}: ${JSON.stringify(body)},`);

  const text = [
    `import type { operations } from "./schema.js";`,
    `import {\n${[...imports]
      .sort()
      .map((name) => `  ${name},`)
      .join("\n")}\n} from "./zod/zod.gen.js";`,
    "",
    "// One constant per operation: what a call needs (method, path, validators), small enough to",
    "// import one at a time. OPERATIONS is the table of all of them.",
    "",
    ...definitions,
    "/** Every operation of openapi/signal.yaml by operationId, in the order of the spec's paths. */",
    `export const OPERATIONS = {\n${ids.map((id) => `  ${id}: ${id}Operation,`).join("\n")}\n} as const satisfies Record<OperationId, unknown>;`,
    "",
    "/** An operationId of the spec. */",
    `export type OperationId =\n${ids.map((id) => `  | "${id}"`).join("\n")};`,
    "",
    "/** What a call of each operation sends: path parameters, query and body, typed as the spec has them. */",
    `export interface OperationRequest {\n${requestTypes.join("\n")}\n}`,
    "",
    "/** The 2xx body of each operation. */",
    `export interface OperationResult {\n${resultTypes.join("\n")}\n}`,
    "",
    ...queryTypes,
    "/** One declared response of an operation. */",
    "export interface OperationResponse {",
    "  /** Media types of the body, as declared (empty when the response has no body). */",
    "  readonly contentTypes: readonly string[];",
    "  /** Declared response headers, lower-case. */",
    "  readonly headers: readonly string[];",
    "  /** The spec's example body (error statuses only). */",
    "  readonly example?: unknown;",
    "}",
    "",
    "/** The spec's example body of each error response. */",
    `export const RESPONSE_EXAMPLES = {\n${examples.join("\n")}\n} as const;`,
    "",
    "/** Every operation's declared responses by status code. */",
    `export const OPERATION_RESPONSES = {\n${responseLines.join("\n")}\n} as const satisfies Record<OperationId, Readonly<Record<string, OperationResponse>>>;`,
    "",
  ].join("\n");
  writeFileSync(join(root, "generated/operations.ts"), text);
}
