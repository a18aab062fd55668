import { OPERATIONS, type OperationId } from "../../../generated/operations.js";

/** One route of the generated table: method and path template of an operation. */
export interface Route {
  method: string;
  /** The spec's path template, e.g. `/v1/runs/{run_id}`. */
  path: string;
  operationId: OperationId;
}

/** The route table, from the generated operations (the spec's paths, in its order). */
export const ROUTES: readonly Route[] = Object.values(OPERATIONS).map(({ method, path, operationId }) => ({ method, path, operationId }));

/** The outcome of matching a request path against the table. */
export type RouteMatch =
  | { kind: "found"; route: Route; params: Record<string, string> }
  | { kind: "method_not_allowed"; allowed: string[] }
  | { kind: "not_found" };

/**
 * Matches a raw request path (no query) against the table. Segments are split before they are
 * percent-decoded, so `%2F` or `..` inside a parameter stays inside that parameter (and then
 * fails its schema) instead of changing which route matches.
 */
export function matchRoute(method: string, rawPath: string): RouteMatch {
  const segments = rawPath.split("/");
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const params = matchTemplate(route.path, segments);
    if (!params) continue;
    if (route.method === method) return { kind: "found", route, params };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { kind: "method_not_allowed", allowed } : { kind: "not_found" };
}

function matchTemplate(template: string, segments: string[]): Record<string, string> | undefined {
  const parts = template.split("/");
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const segment = segments[i]!;
    if (part.startsWith("{")) {
      let value: string;
      try {
        value = decodeURIComponent(segment);
      } catch {
        value = segment;
      }
      params[part.slice(1, -1)] = value;
    } else if (part !== segment) {
      return undefined;
    }
  }
  return params;
}
