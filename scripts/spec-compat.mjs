// Classifies the changes between the last released spec and the working one by what they do to
// clients already in production: `major` (breaks them), `minor` (additive), `patch` (neither).
// `npm run check` fails on a major change unless info.version's major was bumped; `npm run
// release` writes the CHANGELOG section from the same list.
//
// The diff itself is `redocly diff` (its rules see 3.1 schemas, $refs and shared components);
// redocly.yaml rates its rules (an enum value added is minor: the SDK reads values it does not
// know as strings). This module adds what redocly does not check:
// - a new status code on an existing operation breaks clients (they were never told to expect
//   it), except 429, 500 and 503: the wire contract lets every operation answer those (overload
//   and internal errors, with Retry-After), every client already maps and retries them, so
//   listing them on an operation documents behaviour the contract had already promised;
// - a new required response header breaks clients that validate headers (redocly rates it minor).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { reachable } from "./open-enums.mjs";

const root = new URL("..", import.meta.url).pathname;
const redocly = join(root, "node_modules/@redocly/cli/bin/cli.js");
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/** Statuses the wire contract lets any operation answer; see the header of this file. */
export const CONTRACT_WIDE_STATUSES = new Set(["429", "500", "503"]);

/** Why a change of each redocly rule breaks an existing client, by side of the wire. */
const WHY = {
  "property-removed": {
    response: "clients that read this field now get undefined (and a typed SDK fails validation)",
    request: "clients that still send this field are now sending an unknown field",
  },
  "required-properties-removed": {
    response: "the field may now be missing, and clients read it unconditionally",
  },
  "required-properties-added": {
    request: "existing calls that omit the field are now rejected",
    response: "",
  },
  "schema-type-changed": {
    request: "values existing clients send may no longer be accepted",
    response: "clients decode this field as the old type",
  },
  "schema-constraint-changed": {
    request: "values existing clients send may now be out of bounds and rejected",
    response: "clients relied on the old bounds of this value",
  },
  "schema-combinator-changed": { any: "the shape of accepted or returned values changed (oneOf/anyOf/allOf)" },
  "enum-values-removed": {
    request: "clients that send the removed value are now rejected",
    response: "clients that handle the value keep code for a case that no longer exists (and older generated SDKs reject nothing here)",
  },
  "operation-removed": { any: "existing calls to this operation now fail" },
  "path-removed": { any: "existing calls to this path now fail" },
  "operation-id-changed": { any: "the SDK's method names derive from operationIds" },
  "operation-action-changed": { any: "existing calls use the old method" },
  "parameter-became-required": { any: "existing calls that omit the parameter are now rejected" },
  "parameter-removed": { any: "clients that still send the parameter send one the server no longer knows" },
  "parameter-serialization-changed": { any: "existing clients serialize the parameter the old way" },
  "request-body-became-required": { any: "existing calls without a body are now rejected" },
  "request-body-removed": { any: "existing calls send a body the operation no longer takes" },
  "media-type-removed": { any: "existing clients send or expect the removed media type" },
  "response-removed": { any: "clients that handle this status keep code for a response that no longer exists" },
  "response-header-removed": { any: "clients that read this header now get nothing" },
  "security-requirement-changed": { any: "existing credentials may no longer be accepted" },
  "security-scheme-changed": { any: "existing credentials may no longer be accepted" },
  "new-status-code": { any: "existing clients were never told this operation can answer it" },
  "required-response-header-added": { any: "clients that validate response headers reject responses they accepted" },
};

/** @returns {"request" | "response" | "operation"} */
function sideOf(pointer) {
  if (/\/responses\//.test(pointer)) return "response";
  if (/\/(requestBody|parameters)(\/|$)/.test(pointer)) return "request";
  return "operation";
}

function why(ruleId, side) {
  const reasons = WHY[ruleId];
  if (!reasons) return "an existing client may not handle it";
  return reasons[side] || reasons.any || reasons.request || reasons.response || "an existing client may not handle it";
}

/** `#/paths/~1v1~1runs/get/...` → the operation it is under (method, path, operationId). */
function operationOf(pointer, spec) {
  const orphan = pointer.replace(/~1/g, "/").match(/^#\/paths\/\/x-components-without-operation\/([^/]+)/);
  if (orphan) return { path: "a schema no operation refers to, e.g. a stream event", method: undefined, operationId: orphan[1] };
  const parts = pointer
    .replace(/^#\//, "")
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (parts[0] !== "paths" || parts.length < 2) return undefined;
  const path = parts[1];
  const method = METHODS.includes(parts[2]) ? parts[2] : undefined;
  const operationId = method ? spec?.paths?.[path]?.[method]?.operationId : undefined;
  return { path, method, operationId };
}

function label(op) {
  if (!op) return "spec";
  const where = op.method ? `${op.method.toUpperCase()} ${op.path}` : op.path;
  return op.operationId ? `${op.operationId} (${where})` : where;
}

function resolve(spec, node) {
  let current = node;
  for (let i = 0; current && typeof current.$ref === "string" && i < 20; i++) {
    const parts = current.$ref
      .replace(/^#\//, "")
      .split("/")
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    current = parts.reduce((at, key) => at?.[key], spec);
  }
  return current;
}

/** Checks redocly does not make: new status codes and new required response headers. */
function ownChecks(base, revision) {
  const changes = [];
  for (const [path, item] of Object.entries(revision.paths ?? {})) {
    for (const method of METHODS) {
      const now = item?.[method];
      const before = base.paths?.[path]?.[method];
      if (!now || !before) continue;
      const op = { path, method, operationId: now.operationId };
      for (const [status, response] of Object.entries(now.responses ?? {})) {
        const old = before.responses?.[status];
        if (old === undefined) {
          const wide = CONTRACT_WIDE_STATUSES.has(status);
          changes.push({
            impact: wide ? "minor" : "major",
            ruleId: "new-status-code",
            operation: label(op),
            side: "response",
            message: `New response status ${status}.`,
            why: wide ? "the wire contract already lets every operation answer it, and clients map and retry it" : why("new-status-code", "response"),
          });
          continue;
        }
        const oldHeaders = resolve(base, old)?.headers ?? {};
        for (const [name, header] of Object.entries(resolve(revision, response)?.headers ?? {})) {
          const resolved = resolve(revision, header);
          const previous = oldHeaders[name] ? resolve(base, oldHeaders[name]) : undefined;
          if (resolved?.required === true && previous?.required !== true) {
            changes.push({
              impact: "major",
              ruleId: "required-response-header-added",
              operation: label(op),
              side: "response",
              message: `Response ${status} now has the required header \`${name}\`.`,
              why: why("required-response-header-added", "response"),
            });
          }
        }
      }
    }
  }
  return changes;
}

/** Where a component schema no operation refers to is attached for the diff (see below). */
const ORPHANS = "/x-components-without-operation/";

/**
 * `redocly diff` only walks what operations reach, so a schema no operation refers to (the SSE
 * chunk `SampleChunk`, sent as `data:` lines of a streamed sample) would change unseen. Each such
 * schema is attached to a synthetic GET whose 200 answer is that schema, in a temporary copy.
 */
function attachOrphans(spec, names, file) {
  const copy = structuredClone(spec);
  for (const name of names) {
    copy.paths[`${ORPHANS}${name}`] = {
      get: {
        operationId: `${name} (a schema no operation refers to, e.g. a stream event)`,
        responses: { 200: { description: name, content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } } } },
      },
    };
  }
  writeFileSync(file, stringify(copy, { aliasDuplicateObjects: false }));
  return file;
}

function orphansOf(spec) {
  const reached = reachable(spec, Object.values(spec.paths ?? {}));
  return Object.keys(spec.components?.schemas ?? {}).filter((name) => !reached.has(name));
}

async function redoclyDiff(base, revision) {
  const dir = mkdtempSync(join(tmpdir(), "spec-diff-"));
  const out = join(dir, "diff.json");
  const names = [...new Set([...orphansOf(base), ...orphansOf(revision)])].filter((n) => base.components?.schemas?.[n] && revision.components?.schemas?.[n]);
  const basePath = attachOrphans(base, names, join(dir, "base.yaml"));
  const revisionPath = attachOrphans(revision, names, join(dir, "revision.yaml"));
  try {
    await promisify(execFile)(
      process.execPath,
      [redocly, "diff", basePath, revisionPath, "--config", join(root, "redocly.yaml"), "--format", "json", "--fail-on", "none", "-o", out],
      {
        cwd: root,
        env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return JSON.parse(readFileSync(out, "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Every change from `basePath` to `revisionPath`, rated by the project's policy.
 * @returns {Promise<{ bump: "major" | "minor" | "patch" | "none", baseVersion: string, revisionVersion: string,
 *   changes: Array<{ impact: string, ruleId: string, operation: string, side: string, message: string, why: string }> }>}
 */
export async function classify(basePath, revisionPath) {
  const base = parse(readFileSync(basePath, "utf8"));
  const revision = parse(readFileSync(revisionPath, "utf8"));
  const report = await redoclyDiff(base, revision);
  const changes = [];
  for (const change of report.changes ?? []) {
    // A response added to an operation is rated by ownChecks (new status codes).
    if (change.kind === "added" && /\/responses\/[^/]+$/.test(change.path)) continue;
    const side = sideOf(change.path);
    const op = operationOf(change.path, change.kind === "removed" ? base : revision) ?? operationOf(change.path, base);
    for (const verdict of change.verdicts ?? [{ ruleId: change.kind, impact: change.impact, message: `${change.kind} ${change.path}` }]) {
      const reason = verdict.impact === "major" ? why(verdict.ruleId, side) : "";
      changes.push({ impact: verdict.impact, ruleId: verdict.ruleId, operation: label(op), side, message: verdict.message, why: reason });
    }
    if (!change.verdicts?.length) {
      const at = (change.revision?.pointer ?? change.base?.pointer ?? change.path).replace(/^#\//, "").replace(/~1/g, "/");
      const kind = change.kind ?? "changed";
      changes.push({
        impact: change.impact ?? "patch",
        ruleId: kind,
        operation: label(op),
        side,
        message: `${kind[0].toUpperCase()}${kind.slice(1)} \`${at}\`${change.property ? ` (${change.property})` : ""}.`,
        why: "",
      });
    }
  }
  changes.push(...ownChecks(base, revision));
  const order = ["none", "patch", "minor", "major"];
  const bump = changes.reduce((top, c) => (order.indexOf(c.impact) > order.indexOf(top) ? c.impact : top), "none");
  return { bump, baseVersion: String(base.info?.version ?? ""), revisionVersion: String(revision.info?.version ?? ""), changes };
}

/** The major of a semver string (`2.1.0` → 2). */
export function majorOf(version) {
  return Number.parseInt(String(version).split(".")[0] ?? "0", 10);
}

/** One line per change, for a terminal or a changelog. */
export function describe(change) {
  const because = change.why ? ` Breaks existing clients: ${change.why}.` : "";
  return `${change.operation}, ${change.side}: ${change.message}${because}`;
}
