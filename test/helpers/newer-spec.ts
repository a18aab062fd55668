import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The field the newer spec adds to every object schema, and its value in every example. */
export const ADDED_FIELD = "added_in_v1_1";
export const ADDED_VALUE = "from a newer server";

/**
 * Writes a spec derived from openapi/signal.yaml with only additive changes, as a newer release
 * of the service might make them: an optional field on every object schema (and in every
 * example, so a mock serves it), a new run `status` and a new `finish_reason` (used by every
 * example), a new optional request field (`CreateRunRequest.priority`) and a new operation
 * (`listRunLabels`). Returns its path and a way to remove it.
 */
export function writeNewerSpec(): { path: string; remove: () => void } {
  const spec = parse(readFileSync(join(root, "openapi/signal.yaml"), "utf8"));
  spec.info.version = "1.1.0";
  addFieldToSchemas(spec);
  const schemas = spec.components.schemas;
  schemas.Run.properties.status.enum.push("paused");
  for (const name of ["Sample", "SampleChunk", "CompletionChoice"]) schemas[name].properties.finish_reason.enum.push("content_filter");
  schemas.CreateRunRequest.properties.priority = { type: "string", enum: ["low", "high"], description: "Scheduling priority." };
  spec.paths["/v1/runs/{run_id}/labels"] = {
    get: {
      operationId: "listRunLabels",
      summary: "The labels of a run",
      parameters: [{ $ref: "#/components/parameters/RunIdPath" }],
      responses: {
        "200": {
          description: "The labels.",
          content: {
            "application/json": {
              schema: { type: "object", properties: { labels: { type: "array", items: { type: "string" } } } },
              example: { labels: ["eu"] },
            },
          },
        },
      },
    },
  };
  rewriteExamples(spec.paths);
  rewriteExamples(spec.components.responses);
  for (const example of Object.values(spec.components.examples ?? {}) as Array<{ value?: unknown }>) {
    if (example && "value" in example) example.value = withAdditions(example.value);
  }
  const dir = mkdtempSync(join(tmpdir(), "signal-newer-spec-"));
  const path = join(dir, "signal.yaml");
  writeFileSync(path, stringify(spec, { aliasDuplicateObjects: false }));
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function addFieldToSchemas(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(addFieldToSchemas);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const schema = node as Record<string, unknown>;
  if (schema.type === "object" && typeof schema.properties === "object" && schema.properties !== null) {
    (schema.properties as Record<string, unknown>)[ADDED_FIELD] = { type: "string", description: "Added by a newer release." };
  }
  for (const [key, value] of Object.entries(schema)) if (key !== "example" && key !== "examples") addFieldToSchemas(value);
}

/** In every example: the added field on each object, the new status and finish_reason values. */
function rewriteExamples(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(rewriteExamples);
    return;
  }
  if (typeof node !== "object" || node === null) return;
  const object = node as Record<string, unknown>;
  for (const [key, value] of Object.entries(object)) {
    if (key === "example") object[key] = withAdditions(value);
    else if (key === "examples" && typeof value === "object" && value !== null) {
      for (const example of Object.values(value as Record<string, { value?: unknown }>)) {
        if (example && "value" in example) example.value = withAdditions(example.value);
      }
    } else rewriteExamples(value);
  }
}

function withAdditions(value: unknown, key?: string): unknown {
  if (Array.isArray(value)) return value.map((item) => withAdditions(item));
  if (typeof value !== "object" || value === null) {
    if (key === "status" && value === "active") return "paused";
    if (key === "finish_reason" && (value === "stop" || value === "length")) return "content_filter";
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) out[name] = name === "metadata" ? field : withAdditions(field, name);
  return { ...out, [ADDED_FIELD]: ADDED_VALUE };
}
