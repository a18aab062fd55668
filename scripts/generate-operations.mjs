// Writes generated/operations.ts from openapi/signal.yaml: every operation's method, path
// template, whether it needs the API key, and for each declared status its content types, its
// headers and (for error statuses) the spec's example body. `frontier-signal/testing` reads it
// to route, to refuse scenarios the spec does not declare, and to answer them; nothing in it is
// written by hand. Called by scripts/generate.mjs (which adds the do-not-edit header).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

/** @param {string} root the repository root */
export function generateOperations(root) {
  const spec = parse(readFileSync(join(root, "openapi/signal.yaml"), "utf8"));
  const resolve = (node) => {
    if (node && typeof node.$ref === "string") {
      const target = node.$ref.replace(/^#\//, "").split("/").reduce((at, key) => at?.[key], spec);
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

  // Error responses are shared components: their examples are written once and referenced.
  const shared = {};
  const lines = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method];
      if (!op) continue;
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
          const name = typeof raw.$ref === "string" ? raw.$ref.split("/").pop() : `${op.operationId}_${status}`;
          shared[name] = example;
          fields.push(`example: RESPONSE_EXAMPLES.${name}`);
        }
        responses.push(`      "${status}": { ${fields.join(", ")} },`);
      }
      const security = op.security ?? spec.security ?? [];
      lines.push(
        `  ${op.operationId}: {`,
        `    method: "${method.toUpperCase()}",`,
        `    path: "${path}",`,
        `    secured: ${security.length > 0},`,
        "    responses: {",
        ...responses,
        "    },",
        "  },",
      );
    }
  }
  const examples = Object.entries(shared).map(([name, body]) => `  ${name}: ${JSON.stringify(body)},`);

  const text =
    "/** One declared response of an operation. */\n" +
    "export interface OperationResponse {\n" +
    "  /** Media types of the body, as declared (empty when the response has no body). */\n" +
    "  readonly contentTypes: readonly string[];\n" +
    "  /** Declared response headers, lower-case. */\n" +
    "  readonly headers: readonly string[];\n" +
    "  /** The spec's example body (error statuses only). */\n" +
    "  readonly example?: unknown;\n" +
    "}\n\n" +
    "/** One operation of the spec. */\n" +
    "export interface OperationInfo {\n" +
    '  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";\n' +
    "  /** The path template, e.g. `/v1/runs/{run_id}`. */\n" +
    "  readonly path: string;\n" +
    "  /** Whether the operation needs the API key. */\n" +
    "  readonly secured: boolean;\n" +
    "  /** Declared responses by status code. */\n" +
    "  readonly responses: Readonly<Record<string, OperationResponse>>;\n" +
    "}\n\n" +
    "/** The spec's example body of each error response. */\n" +
    `export const RESPONSE_EXAMPLES = {\n${examples.join("\n")}\n} as const;\n\n` +
    "/** Every operation of openapi/signal.yaml by operationId, in the order of the spec's paths. */\n" +
    `export const OPERATIONS = {\n${lines.join("\n")}\n} as const satisfies Record<string, OperationInfo>;\n\n` +
    "/** An operationId of the spec. */\n" +
    "export type OperationId = keyof typeof OPERATIONS;\n";
  writeFileSync(join(root, "generated/operations.ts"), text);
}
