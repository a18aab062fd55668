import { OPERATIONS, type OperationId } from "../../generated/operations.js";

interface CompiledRoute {
  operationId: OperationId;
  method: string;
  pattern: RegExp;
}

const ROUTES: CompiledRoute[] = Object.entries(OPERATIONS).map(([operationId, op]) => ({
  operationId: operationId as OperationId,
  method: op.method,
  pattern: new RegExp(`^${op.path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
}));

/** The operation a request is for, or what else the path allows (405) or nothing (404). */
export function matchOperation(
  method: string,
  path: string,
): { kind: "found"; operationId: OperationId } | { kind: "method_not_allowed"; allowed: string[] } | { kind: "not_found" } {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    if (!route.pattern.test(path)) continue;
    if (route.method === method) return { kind: "found", operationId: route.operationId };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { kind: "method_not_allowed", allowed } : { kind: "not_found" };
}
