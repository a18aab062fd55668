/** Every operationId of `openapi/signal.yaml`. */
export type OperationId =
  | "getHealth"
  | "listModels"
  | "createRun"
  | "listRuns"
  | "getRun"
  | "deleteRun"
  | "forwardBackward"
  | "optimStep"
  | "trainStep"
  | "zeroGrad"
  | "forward"
  | "tokenize"
  | "detokenize"
  | "listMetrics"
  | "createCheckpoint"
  | "listCheckpoints"
  | "getCheckpoint"
  | "downloadCheckpoint"
  | "deleteCheckpoint"
  | "restoreCheckpoint"
  | "sample"
  | "createEmbeddings"
  | "createCompletion";

export interface Route {
  method: "GET" | "POST" | "DELETE";
  /** The spec's path template, e.g. `/v1/runs/{run_id}`. */
  path: string;
  operationId: OperationId;
}

/** The route table: path template and method → operationId, exactly as in the spec. */
export const ROUTES: readonly Route[] = [
  { method: "GET", path: "/v1/health", operationId: "getHealth" },
  { method: "GET", path: "/v1/models", operationId: "listModels" },
  { method: "POST", path: "/v1/runs", operationId: "createRun" },
  { method: "GET", path: "/v1/runs", operationId: "listRuns" },
  { method: "GET", path: "/v1/runs/{run_id}", operationId: "getRun" },
  { method: "DELETE", path: "/v1/runs/{run_id}", operationId: "deleteRun" },
  { method: "POST", path: "/v1/runs/{run_id}/forward_backward", operationId: "forwardBackward" },
  { method: "POST", path: "/v1/runs/{run_id}/optim_step", operationId: "optimStep" },
  { method: "POST", path: "/v1/runs/{run_id}/train_step", operationId: "trainStep" },
  { method: "POST", path: "/v1/runs/{run_id}/zero_grad", operationId: "zeroGrad" },
  { method: "POST", path: "/v1/runs/{run_id}/forward", operationId: "forward" },
  { method: "POST", path: "/v1/models/{model_id}/tokenize", operationId: "tokenize" },
  { method: "POST", path: "/v1/models/{model_id}/detokenize", operationId: "detokenize" },
  { method: "GET", path: "/v1/runs/{run_id}/metrics", operationId: "listMetrics" },
  { method: "POST", path: "/v1/runs/{run_id}/checkpoints", operationId: "createCheckpoint" },
  { method: "GET", path: "/v1/runs/{run_id}/checkpoints", operationId: "listCheckpoints" },
  { method: "GET", path: "/v1/runs/{run_id}/checkpoints/{step}", operationId: "getCheckpoint" },
  { method: "DELETE", path: "/v1/runs/{run_id}/checkpoints/{step}", operationId: "deleteCheckpoint" },
  { method: "GET", path: "/v1/runs/{run_id}/checkpoints/{step}/content", operationId: "downloadCheckpoint" },
  { method: "POST", path: "/v1/runs/{run_id}/restore", operationId: "restoreCheckpoint" },
  { method: "POST", path: "/v1/runs/{run_id}/sample", operationId: "sample" },
  { method: "POST", path: "/v1/runs/{run_id}/embeddings", operationId: "createEmbeddings" },
  { method: "POST", path: "/v1/completions", operationId: "createCompletion" },
];

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
